import type { Command } from "commander";
import { DEFAULT_ALLOW_PATTERNS, snapshotDownload } from "../../hub/download.js";
import { makeProgress, type Progress } from "../../util/progress.js";

export interface DownloadCommandOptions {
  revision: string;
  cacheDir?: string;
  endpoint?: string;
  include?: string[];
  offline?: boolean;
  progress: boolean;
}

/**
 * Downloads a model repository into the huggingface_hub cache and returns the snapshot
 * directory (what `--model` of the other commands accepts, as does the hub id itself).
 */
export async function runDownload(repoId: string, opts: DownloadCommandOptions): Promise<string> {
  let bar: Progress | undefined;
  let current = "";
  let shown = 0;
  try {
    return await snapshotDownload(repoId, {
      revision: opts.revision,
      cacheDir: opts.cacheDir,
      endpoint: opts.endpoint,
      allowPatterns:
        opts.include && opts.include.length > 0 ? opts.include : DEFAULT_ALLOW_PATTERNS,
      offline: opts.offline,
      onProgress: (p) => {
        if (p.file !== current) {
          bar?.stop();
          bar = makeProgress(opts.progress);
          bar.start(p.totalBytes, `${p.file} (${p.fileIndex + 1}/${p.fileCount})`);
          current = p.file;
          shown = 0;
        }
        bar?.increment(p.bytes - shown);
        shown = p.bytes;
      },
    });
  } finally {
    bar?.stop();
  }
}

export function register(program: Command): void {
  program
    .command("download")
    .description(
      "Download a model from the Hugging Face hub into the huggingface_hub cache (honours HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) and print its local directory",
    )
    .argument("<repo>", 'model id, e.g. "lightonai/GTE-ModernColBERT-v1"')
    .option("--revision <rev>", "branch, tag or commit", "main")
    .option("--cache-dir <dir>", "cache root (default $HF_HUB_CACHE or $HF_HOME/hub)")
    .option("--endpoint <url>", "hub URL (default $HF_ENDPOINT or https://huggingface.co)")
    .option(
      "--include <pattern...>",
      `file patterns to fetch (default: ${DEFAULT_ALLOW_PATTERNS.join(" ")})`,
    )
    .option("--offline", "only look in the cache")
    .option("--no-progress", "hide the progress bar")
    .action(async (repo: string, opts: DownloadCommandOptions) => {
      const dir = await runDownload(repo, opts);
      process.stdout.write(`${dir}\n`);
    });
}
