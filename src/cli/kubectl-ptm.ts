import { EXIT } from "./errors.js";
import { main } from "./main.js";

/** The executable's entry (bin/kubectl-ptm loads it): real stdio, real exit code. */
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  // `kubectl ptm logs web | head`: the reader went away, which is not a failure.
  if (error.code === "EPIPE") process.exit(EXIT.ok);
  throw error;
});

const code = await main(process.argv.slice(2), process.env, {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
});
// Exit once stdout and stderr are flushed: idle keep-alive sockets must not hold the process.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
