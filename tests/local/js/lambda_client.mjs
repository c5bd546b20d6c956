// Drive opsfn local's Lambda API with the JavaScript SDK v3, as a Node backend would, and print
// what it saw as JSON: node lambda_client.mjs ENDPOINT FUNCTION_NAME
import {
  GetFunctionCommand, InvokeCommand, LambdaClient, ListFunctionsCommand,
} from "@aws-sdk/client-lambda";

const [endpoint, functionName] = process.argv.slice(2);
const client = new LambdaClient({
  endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
});
const encode = (value) => new TextEncoder().encode(JSON.stringify(value));
const decode = (bytes) => JSON.parse(new TextDecoder().decode(bytes));

async function failure(command) {
  try {
    await client.send(command);
    return null;
  } catch (error) {
    return { name: error.name, status: error.$metadata && error.$metadata.httpStatusCode,
             message: error.message };
  }
}

const out = {};
const ok = await client.send(new InvokeCommand({
  FunctionName: functionName, Payload: encode({ action: "health" }), LogType: "Tail" }));
out.ok = { status: ok.StatusCode, version: ok.ExecutedVersion, payload: decode(ok.Payload),
           log: Buffer.from(ok.LogResult, "base64").toString("utf8") };
const failed = await client.send(new InvokeCommand({
  FunctionName: functionName, Payload: encode({ action: "no_such_action" }) }));
out.failed = { status: failed.StatusCode, functionError: failed.FunctionError,
               payload: decode(failed.Payload) };
const queued = await client.send(new InvokeCommand({
  FunctionName: functionName, InvocationType: "Event", Payload: encode({ action: "health" }) }));
out.event = { status: queued.StatusCode };
const dry = await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: "DryRun" }));
out.dryRun = { status: dry.StatusCode };
out.unknown = await failure(new InvokeCommand({ FunctionName: "no-such-function", Payload: encode({}) }));
out.tooLarge = await failure(new InvokeCommand({
  FunctionName: functionName, InvocationType: "Event",
  Payload: encode({ action: "health", pad: "x".repeat(300 * 1024) }) }));
const fn = await client.send(new GetFunctionCommand({ FunctionName: functionName }));
out.getFunction = { name: fn.Configuration.FunctionName, arn: fn.Configuration.FunctionArn,
                    runtime: fn.Configuration.Runtime, handler: fn.Configuration.Handler };
const list = await client.send(new ListFunctionsCommand({}));
out.list = list.Functions.map((f) => f.FunctionName);
process.stdout.write(JSON.stringify(out));
