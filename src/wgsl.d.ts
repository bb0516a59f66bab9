/** A `.wgsl` file imports as its source text (Vite plugin, esbuild text loader, Node load hook). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}
