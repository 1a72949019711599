/**
 * Reads a request body up to `limitBytes`, chunk by chunk: over the cap it stops reading, cancels
 * the stream and returns null — a body is never buffered whole before its size is known. Used by
 * the GraphQL chunked-body cap and the REST form reader (both answer 413 on null).
 */
export async function readCapped(body: ReadableStream<Uint8Array>, limitBytes: number): Promise<Buffer<ArrayBuffer> | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    size += value.byteLength;
    if (size > limitBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
}
