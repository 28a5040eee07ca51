export {
  bytesToFloat32,
  encodeSafetensors,
  halfToFloat,
  parseSafetensorsHeader,
  readSafetensorsHeader,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorInfo,
  type TensorToWrite,
  WeightStore,
  writeSafetensors,
} from "./safetensors.js";
