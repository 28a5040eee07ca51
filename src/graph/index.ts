export {
  canonDim,
  type Dim,
  dimDivide,
  dimEquals,
  dimProduct,
  isStatic,
  type Shape,
} from "./dims.js";
export {
  type Attrs,
  type AttrValue,
  type DType,
  type ExternalTensor,
  Graph,
  type GraphOutput,
  type InitializerSource,
  type Node,
  type TensorData,
  type Value,
} from "./ir.js";
export {
  type ExternalPlacement,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  type SerializeOptions,
  serializeGraph,
} from "./onnx.js";
export {
  type AttrType,
  broadcastShapes,
  OPS,
  type OpSchema,
  type OpType,
  type OutputSpec,
} from "./ops.js";
export {
  createInferenceSession,
  defaultThreads,
  type InferenceSessionLike,
  type ModelBytes,
  makeTensor,
  type RuntimeOptions,
  type TensorLike,
  type TensorType,
} from "./runtime.js";
export {
  type Feed,
  type FeedData,
  type Fetched,
  GraphSession,
  type GraphSessionOptions,
  prepareRuntimeModel,
  type RuntimeModel,
} from "./session.js";
