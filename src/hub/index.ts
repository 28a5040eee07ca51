// Hugging Face hub access: download a model repository into the huggingface_hub cache.

export { hubCacheDir, repoFolderName } from "./cache.js";
export {
  DEFAULT_ALLOW_PATTERNS,
  type DownloadProgress,
  type HubOptions,
  resolveModelPath,
  snapshotDownload,
} from "./download.js";
