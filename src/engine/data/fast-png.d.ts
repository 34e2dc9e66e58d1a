// fast-png publishes its types only through package.json "exports", which the project's
// moduleResolution (node10) does not read; this points the bare specifier at them explicitly.
declare module 'fast-png' {
  export * from 'fast-png/lib/index';
}
