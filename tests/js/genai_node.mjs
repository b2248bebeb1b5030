// Calls a live emulator with Google's JavaScript SDK, @google/genai, as a Node app would:
// the Gemini API surface, an API key (sent as x-goog-api-key), httpOptions.baseUrl.
//   node genai_node.mjs <generate|stream>
// Environment: GENAI_SDK_DIR (the installed package's folder), EMULATOR_BASE_URL,
// GENAI_API_KEY. Prints one JSON line: what came back (never the key); exits 1 on an error,
// with the SDK's message on stderr.
import path from 'node:path';
import {pathToFileURL} from 'node:url';

const {GoogleGenAI} = await import(
  pathToFileURL(path.join(process.env.GENAI_SDK_DIR, 'dist', 'node', 'index.mjs')).href
);

const ai = new GoogleGenAI({
  apiKey: process.env.GENAI_API_KEY,
  httpOptions: {baseUrl: process.env.EMULATOR_BASE_URL},
});
const request = {
  model: 'gemini-3-pro-image-preview',
  contents: 'A lighthouse at dusk, seen from the sea',
  config: {
    responseModalities: ['TEXT', 'IMAGE'],
    imageConfig: {aspectRatio: '16:9', imageSize: '1K'},
  },
};

// The parts of every answer (one for generateContent, each chunk's for the stream).
async function answers(mode) {
  if (mode === 'generate') {
    return [await ai.models.generateContent(request)];
  }
  if (mode === 'stream') {
    const chunks = [];
    for await (const chunk of await ai.models.generateContentStream(request)) {
      chunks.push(chunk);
    }
    return chunks;
  }
  throw new Error(`unknown mode ${mode}`);
}

try {
  const responses = await answers(process.argv[2]);
  const parts = responses.flatMap((r) => r.candidates?.[0]?.content?.parts ?? []);
  const images = parts.filter((p) => p.inlineData && !p.thought).map((p) => p.inlineData);
  console.log(JSON.stringify({
    chunks: responses.length,
    responseIds: [...new Set(responses.map((r) => r.responseId))],
    modelVersion: responses.at(-1)?.modelVersion,
    finishReason: responses.at(-1)?.candidates?.[0]?.finishReason,
    text: parts.filter((p) => p.text && !p.thought).map((p) => p.text).join(''),
    images: images.map((d) => ({mimeType: d.mimeType, data: d.data})),
  }));
} catch (error) {
  console.error(`${error.name}: ${error.message}`);
  process.exit(1);
}
