/**
 * Reference simulator for the `metarl-bridge/1` protocol: serves the built-in `navigation` env
 * (n copies per connection, copy i reset with deriveSeed(seed, i) as in-process) either by
 * listening for agents or by dialling an agent server (`AgentServer`, `metarl serve`).
 *
 *   npx tsx scripts/nav-sim.ts --port 8765 [--host 127.0.0.1] [--num 20] [--token-file F] [--no-binary]
 *   npx tsx scripts/nav-sim.ts --connect ws://127.0.0.1:8766 [--num 20] [--token-file F]
 * The shared secret comes from --token-file, else METARL_TOKEN (--token T works, but shows in `ps`).
 *
 * Exit codes: 0 done (connection closed / Ctrl-C), 1 connection failed or refused, 2 bad option.
 * Also importable: `navSimOptions` and `startNavSim` let tests run it in-process.
 */
import { readToken } from '../src/io/secrets.ts';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeVector } from '../envs/registry.ts';
import { parseTaskSpace } from '../src/bridge/taskSpace.ts';
import { type SimulatorOptions } from '../src/bridge/simSession.ts';
import { type SimulatorServer, dialAgent, serveSimulator } from '../src/bridge/simServer.ts';

export interface NavSimConfig {
  /** Copies per connection (default 20). */
  num?: number;
  token?: string;
  /** Offer binary frames (default true). */
  binary?: boolean;
  /** Time limit in steps (default 100). */
  maxEpisodeSteps?: number;
  /** Half-width of the goal square (default 0.5). */
  goalRange?: number;
  maxMessageBytes?: number;
  welcomeTimeoutMs?: number;
  /** Replies left unread by an agent before it is dropped, in bytes (default 4 × maxMessageBytes). */
  maxBufferedBytes?: number;
}

/**
 * What the session layer needs to serve navigation: a fresh vector env per connection (built once
 * the agent is through the handshake; the token is proved by HMAC, never sent), the task space.
 */
export function navSimOptions(config: NavSimConfig = {}): SimulatorOptions {
  const num = config.num ?? 20;
  const r = config.goalRange ?? 0.5;
  const envOptions = { maxEpisodeSteps: config.maxEpisodeSteps ?? 100, goalRange: r };
  return {
    makeEnv: () => makeVector('navigation', num, envOptions),
    // The same distribution Navigation.sampleTasks draws, in the same order (goal x, then y).
    taskSpace: parseTaskSpace({ goal: { low: [-r, -r], high: [r, r] } }),
    name: `navigation×${num}`,
    token: config.token,
    binary: config.binary,
    maxMessageBytes: config.maxMessageBytes,
    welcomeTimeoutMs: config.welcomeTimeoutMs,
    maxBufferedBytes: config.maxBufferedBytes,
  };
}

/** Starts the reference simulator listening (127.0.0.1 and a free port unless told otherwise). */
export function startNavSim(config: NavSimConfig & { host?: string; port?: number } = {}): Promise<SimulatorServer> {
  return serveSimulator({ ...navSimOptions(config), host: config.host, port: config.port ?? 0 });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      connect: { type: 'string' },
      num: { type: 'string', default: '20' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'no-binary': { type: 'boolean', default: false },
      'max-steps': { type: 'string', default: '100' },
    },
  });
  const num = Number(values.num);
  const maxEpisodeSteps = Number(values['max-steps']);
  if (!(Number.isInteger(num) && num >= 1 && num <= 4096)) return usage(`--num must be an integer in [1, 4096], got '${values.num}'`);
  if (!(Number.isInteger(maxEpisodeSteps) && maxEpisodeSteps >= 1)) return usage(`--max-steps must be a positive integer, got '${values['max-steps']}'`);
  if ((values.port === undefined) === (values.connect === undefined)) return usage('give exactly one of --port P (listen) or --connect ws://host:port (dial an agent)');
  let token: string | undefined;
  try {
    token = readToken({ tokenFile: values['token-file'], token: values.token, warn: (line) => process.stderr.write(`nav-sim: ${line}\n`) });
  } catch (e) {
    return usage((e as Error).message);
  }
  const config: NavSimConfig = { num, token, binary: !values['no-binary'], maxEpisodeSteps };

  if (values.connect !== undefined) {
    process.stderr.write(`nav-sim: connecting to ${values.connect} with ${num} navigation copies\n`);
    try {
      const end = await dialAgent(values.connect, navSimOptions(config));
      process.stderr.write(`nav-sim: connection closed (code ${end.code})\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`nav-sim: ${(e as Error).message}\n`);
      return 1;
    }
  }

  const port = Number(values.port);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) return usage(`--port must be an integer in [0, 65535], got '${values.port}'`);
  let server: SimulatorServer;
  try {
    server = await startNavSim({ ...config, host: values.host, port });
  } catch (e) {
    process.stderr.write(`nav-sim: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`nav-sim: serving navigation×${num} on ${server.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((res) => {
    const stop = () => res();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const s = server.stats;
  await server.close();
  process.stderr.write(`nav-sim: stopped; ${s.connections} connections, ${s.requests} requests, ${s.rejected} rejected\n`);
  return 0;
}

function usage(message: string): number {
  process.stderr.write(`nav-sim: ${message}\n`);
  return 2;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.exit(code));
}
