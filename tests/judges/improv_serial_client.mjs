// The web installers' own Improv Serial client (npm improv-wifi-serial-sdk, the ImprovSerial class
// ESP Web Tools uses) run by Node against a scanner's serial port, to judge the board's Improv
// Serial. The port is an inherited file descriptor (a pty's host end, handed over by the Python
// test), its number in argv[4]; the steps come as JSON in argv[3]; each step's outcome is printed
// as one JSON line.
// The SDK is loaded as published: its files are ES modules whose package does not say so and whose
// relative imports leave out ".js" (a bundler adds it); the two hooks below do what that bundler does.
import fs from "node:fs";
import { register } from "node:module";
import tty from "node:tty";
import { pathToFileURL } from "node:url";

const sdk = process.argv[2];
const steps = JSON.parse(process.argv[3]);
const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier.startsWith(".") && !/\\.[cm]?js$/.test(specifier)) {
    return next(specifier + ".js", context);
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url.startsWith(${JSON.stringify(pathToFileURL(sdk).href)})) {
    return next(url, { ...context, format: "module" });
  }
  return next(url, context);
}`;
register("data:text/javascript," + encodeURIComponent(hooks));
const { ImprovSerial } = await import(pathToFileURL(sdk + "/dist/serial.js").href);

const fd = Number(process.argv[4]);
const readable = new ReadableStream({
  start(controller) {
    // a terminal (a pty) is read through the event loop: a blocking read in Node's thread pool
    // would keep the process from exiting
    const input = tty.isatty(fd) ? new tty.ReadStream(fd) : fs.createReadStream(null, { fd, autoClose: false });
    input.on("data", (chunk) => controller.enqueue(new Uint8Array(chunk)));
    input.on("error", () => controller.close());
  },
});
const writable = new WritableStream({
  write(chunk) {
    fs.writeSync(fd, chunk);
  },
});
const logger = { log() {}, debug() {}, error: (...args) => console.error(...args) };
const client = new ImprovSerial({ readable, writable }, logger);

const say = (step, outcome) => console.log(JSON.stringify({ step, ...outcome }));
for (const step of steps) {
  try {
    if (step.do === "initialize") {
      const info = await client.initialize(step.timeout || 5000);
      say(step.do, { info, state: client.state, nextUrl: client.nextUrl ?? null });
    } else if (step.do === "scan") {
      say(step.do, { networks: await client.scan(10000) });
    } else if (step.do === "provision") {
      await client.provision(step.ssid, step.password, 30000);
      say(step.do, { state: client.state, nextUrl: client.nextUrl ?? null });
    } else if (step.do === "state") {
      await client.requestCurrentState(10000);
      say(step.do, { state: client.state, nextUrl: client.nextUrl ?? null });
    }
  } catch (err) {
    say(step.do, { error: String(err), state: client.state });
  }
}
process.exit(0);
