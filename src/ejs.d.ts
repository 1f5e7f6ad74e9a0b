// EJS templates are imported as text: esbuild's text loader in build.mjs, a transform in
// vitest.config.ts. They sit next to the renderer that uses them.
declare module '*.ejs' {
  const template: string;
  export default template;
}
