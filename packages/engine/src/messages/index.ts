/**
 * @module messages — the SIP message model, parser and serializer (RFC 3261 §7, §18.3, §20).
 *
 * API summary (stable; other layers code against it):
 *   parseMessage(buf, { maxSize? = 65535 }): SipMessage
 *       throws SipParseError { code, status?, request? }. `status` (and the partially parsed `request`) are set
 *       only when a request can still be answered (Via/From/To/Call-ID/CSeq readable, not an ACK); otherwise drop+log.
 *       codes: EMPTY_MESSAGE, BAD_START_LINE, BAD_STATUS, BAD_VERSION(505), BAD_REQUEST_URI(400), BAD_HEADER(400),
 *       MISSING_HEADER, BAD_CSEQ, BAD_VIA, CSEQ_METHOD_MISMATCH(400), BAD_CONTENT_LENGTH(400), BODY_TRUNCATED(400),
 *       MESSAGE_TOO_LARGE(513). Unknown methods parse fine (the UA answers 501).
 *   serializeMessage(msg): Buffer              Content-Length always rewritten from body.length (memoized while unchanged)
 *   wireBytes(msg): Buffer                     the bytes it arrived as while unchanged, else serializeMessage(msg)
 *   getHeader / getHeaders / setHeader / prependHeader / appendHeader / removeHeader / removeFirstHeader
 *       names case-insensitive, compact forms accepted; stored names are canonical long forms
 *   parseUri / formatUri, parseNameAddr / formatNameAddr, parseVia / formatVia, parseCSeq   (throw SipParseError)
 *   getTag(nameAddrValue): string | undefined  fast ";tag=" lookup for From/To values
 *   newBranch() "z9hG4bK…", newTag(), newCallId()
 *   createResponse(req, status, reason?, { toTag? }): SipResponse   (§8.2.6)
 *   reasonPhrase(status)
 *   new StreamFramer({ maxSize }).push(chunk): Buffer[]   TCP framing by Content-Length; throws SipParseError
 *       (MISSING_CONTENT_LENGTH, BAD_CONTENT_LENGTH, MESSAGE_TOO_LARGE): close the connection then.
 */
export * from './types.js';
export { parseMessage, DEFAULT_MAX_MESSAGE_SIZE, type ParseOptions } from './parser.js';
export { serializeMessage, wireBytes } from './serializer.js';
export {
  getHeader,
  getHeaders,
  setHeader,
  prependHeader,
  appendHeader,
  removeHeader,
  removeFirstHeader,
  canonicalName,
  splitCommaValues,
} from './headers.js';
export { parseUri, formatUri, parseNameAddr, formatNameAddr, parseVia, formatVia, parseCSeq, getTag, isToken } from './fields.js';
export { newBranch, newTag, newCallId, BRANCH_MAGIC } from './ids.js';
export { createResponse, reasonPhrase, type CreateResponseOptions } from './response.js';
export { StreamFramer, type StreamFramerOptions } from './framer.js';
