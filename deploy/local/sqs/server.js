// Local SQS for Ferry's stack: local-aws-sqs (npm, pinned in ../package.json)
// speaks the SQS JSON protocol current aws-sdk-go-v2 uses. It keeps queues in
// memory; the queues Ferry needs are created at start, and the provisioner
// creates them again (idempotently) so a restarted server is whole.
//
//   node server.js --port 9324 [--host 127.0.0.1]
const { createSqsServer } = require("local-aws-sqs");

const args = process.argv.slice(2);
const arg = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const port = Number(arg("--port", "9324"));
const hostname = arg("--host", "127.0.0.1");

createSqsServer({ port, hostname, emulateQueueCreationLifecycle: false })
  .then(() => console.log(`local-aws-sqs listening on ${hostname}:${port}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
