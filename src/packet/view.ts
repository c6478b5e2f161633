// What every packet view is: a position in a byte array, re-pointed at each frame (never
// allocated per frame). Each protocol's view adds its fields as getters and setters.

export class ByteView {
  b: Uint8Array = new Uint8Array(0);
  o = 0;
  point(b: Uint8Array, o: number): this {
    this.b = b;
    this.o = o;
    return this;
  }
}
