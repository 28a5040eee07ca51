import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

// s3rver ships no types: the part used here.
interface S3rverServer {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
const S3rver = createRequire(import.meta.url)("s3rver") as new (
  options: Record<string, unknown>,
) => S3rverServer;

/** Where a Lance test table lives: a URI, its storage options, and how to clean up. */
export interface LanceStore {
  uri: string;
  storageOptions?: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function localStore(): Promise<LanceStore> {
  const dir = mkdtempSync(join(tmpdir(), "tslate-lance-"));
  return { uri: dir, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * An S3-compatible server on loopback (s3rver, from npm: no S3-compatible server installs
 * from Debian here), so that the Lance index runs over the real S3 protocol.
 */
export async function s3Store(): Promise<LanceStore> {
  const dir = mkdtempSync(join(tmpdir(), "tslate-s3-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory: dir,
    configureBuckets: [{ name: "tslate", configs: [] }],
  });
  const { port } = await server.run();
  return {
    uri: "s3://tslate/index",
    storageOptions: {
      awsAccessKeyId: "S3RVER",
      awsSecretAccessKey: "S3RVER",
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      allowHttp: "true",
      virtualHostedStyleRequest: "false",
    },
    cleanup: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
