// How a double that reads its settings from a JSON file runs as a program in the sandbox: one
// argument, the file; listen or exit 1 naming the address; stop cleanly on SIGTERM or SIGINT.
import * as fs from "node:fs";

export interface ServedDouble {
  listen(): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Runs the double `make` builds from the JSON file named by the first argument. `program` names it
 * in the usage line; `listening` is the line printed once it listens.
 */
export function serveFromConfigFile<Config extends { host: string; port: number }>(
  program: string,
  make: (config: Config) => ServedDouble,
  listening: (config: Config) => string,
): void {
  const run = async () => {
    const configFile = process.argv[2];
    if (!configFile) {
      console.error(`usage: ${program} CONFIG.json`);
      process.exit(2);
    }
    const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as Config;
    const double = make(config);
    try {
      await double.listen();
    } catch (err) {
      console.error(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
      process.exit(1);
    }
    console.log(listening(config));
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => void double.close().then(() => process.exit(0)));
    }
  };
  run().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
