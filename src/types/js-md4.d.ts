declare module 'js-md4' {
  interface Md4 {
    update(data: ArrayBuffer | Uint8Array | string): Md4;
    arrayBuffer(): ArrayBuffer;
  }
  const md4: { create(): Md4 };
  export default md4;
}
