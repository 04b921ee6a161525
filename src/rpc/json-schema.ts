/**
 * The wire protocol as JSON Schema (draft 2020-12), generated from the method table's zod schemas,
 * for clients written in other languages. `docs/protocol.schema.json` is this output, checked in
 * and shipped with the package (`execvisor/protocol.schema.json`); `npm run schema` writes it and a
 * test keeps it equal to what the table generates.
 *
 * The document validates one message a client sends (a request of any method, or the `initialized`
 * notification). `$defs` holds each method's params (`<method>.params`, `/` spelled `.`) and each
 * server notification's params (`<notification>.notification`). Members this server ignores are
 * allowed, as on the wire; the accepted input is described (for example a `file://` URI or a native
 * path for a path member), not the decoded value the server works with.
 */
import { z } from 'zod';
import { clientNotifications, requestMethods, serverNotifications } from './methods.js';

const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

type JsonSchema = Record<string, unknown>;

function schemaOf(type: z.ZodType): JsonSchema {
  // `io: 'input'`: what a client sends, before transforms (base64 and paths are decoded after).
  // A member validated elsewhere (the sandbox configs, checked by the sandbox layer) is "any" here.
  const schema = z.toJSONSchema(type, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete schema.$schema;
  return schema;
}

function defName(wireName: string, suffix: 'params' | 'notification'): string {
  return `${wireName.replaceAll('/', '.')}.${suffix}`;
}

const requestId = {
  description: 'An integer (64-bit) or a string, echoed back unchanged in the answer.',
  anyOf: [{ type: 'integer' }, { type: 'string' }],
};

export function protocolJsonSchema(): JsonSchema {
  const defs: Record<string, JsonSchema> = {};
  const messages: JsonSchema[] = [];
  for (const method of Object.values(requestMethods)) {
    const name = defName(method.name, 'params');
    defs[name] = schemaOf(method.params);
    messages.push({
      title: method.name,
      type: 'object',
      properties: {
        id: requestId,
        method: { const: method.name },
        params: { $ref: `#/$defs/${name}` },
      },
      required: ['id', 'method'],
    });
  }
  for (const notification of Object.values(clientNotifications)) {
    messages.push({
      title: notification.name,
      type: 'object',
      properties: { method: { const: notification.name }, params: schemaOf(notification.params) },
      required: ['method'],
      not: { required: ['id'] },
    });
  }
  for (const notification of Object.values(serverNotifications)) {
    defs[defName(notification.name, 'notification')] = schemaOf(notification.params);
  }
  return {
    $schema: DRAFT,
    title: 'execvisor exec-server protocol: a message from the client',
    description:
      'JSON-RPC without the "jsonrpc" member, one message per WebSocket message or stdio line. ' +
      'See docs/protocol.md for the semantics, the answers and the two protocol shapes.',
    oneOf: messages,
    $defs: defs,
  };
}

/** The schema as the checked-in file holds it. */
export function protocolJsonSchemaText(): string {
  return `${JSON.stringify(protocolJsonSchema(), null, 2)}\n`;
}
