/**
 * Runs before onnxruntime-node loads (runtime.ts imports this first). onnxruntime 1.30's Linux
 * build ships Microsoft's 1DS telemetry: every process that loads it tries to send usage events
 * and leaves `mat-debug-<pid>.log` and `.ses` in the temporary folder. tslate turns that off
 * unless the user has set ORT_DISABLE_TELEMETRY themselves (ORT_DISABLE_TELEMETRY=0 keeps it).
 */
process.env.ORT_DISABLE_TELEMETRY ??= "1";
