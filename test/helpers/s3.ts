import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// s3rver: an S3-compatible server in Node (a devDependency), the one the package registries here serve.
import S3rver from 's3rver';

export interface S3Proc {
  endpoint: string;
  bucket: string;
  /** AWS_* variables for the SDK (s3rver accepts its fixed test key pair). */
  env: Record<string, string>;
  /** Applies env to process.env for code that reads the SDK's default chain. */
  useEnv(): void;
  close(): Promise<void>;
}

export async function startS3(bucket = 'feedgate'): Promise<S3Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'feedgate-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const addr = (await server.run()) as AddressInfo;
  const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    bucket,
    env,
    useEnv: () => Object.assign(process.env, env),
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
