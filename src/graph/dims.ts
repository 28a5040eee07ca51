/**
 * Static-or-symbolic dimensions.
 *
 * A dimension is a number (known when the graph is built) or a string naming a symbol bound at
 * run time ("batch", "seq"). Products of symbols are written canonically as "batch*seq" (symbols
 * sorted, a numeric factor first if not 1: "2*seq"), so that Reshape can infer `-1` from
 * `[batch, seq, 64] → [-1, 64]` = "batch*seq" and reshape back.
 */
export type Dim = number | string;
export type Shape = readonly Dim[];

interface Monomial {
  coef: number;
  syms: string[];
}

function parse(d: Dim): Monomial {
  if (typeof d === "number") return { coef: d, syms: [] };
  let coef = 1;
  const syms: string[] = [];
  for (const part of d.split("*")) {
    const n = Number(part);
    if (part !== "" && Number.isInteger(n)) coef *= n;
    else syms.push(part);
  }
  return { coef, syms: syms.sort() };
}

function format(m: Monomial): Dim {
  if (m.syms.length === 0) return m.coef;
  const s = m.syms.join("*");
  return m.coef === 1 ? s : `${m.coef}*${s}`;
}

/** Canonical form of a dimension ("seq*batch" → "batch*seq"). */
export function canonDim(d: Dim): Dim {
  return typeof d === "number" ? d : format(parse(d));
}

export function dimEquals(a: Dim, b: Dim): boolean {
  return canonDim(a) === canonDim(b);
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === "number");
}

/** Product of dimensions, symbolic if any is symbolic. */
export function dimProduct(dims: Shape): Dim {
  const m: Monomial = { coef: 1, syms: [] };
  for (const d of dims) {
    const p = parse(d);
    m.coef *= p.coef;
    m.syms.push(...p.syms);
  }
  m.syms.sort();
  return format(m);
}

/** a / b if it is exact (symbols cancel, integer coefficient), otherwise undefined. */
export function dimDivide(a: Dim, b: Dim): Dim | undefined {
  const pa = parse(a);
  const pb = parse(b);
  if (pb.coef === 0 || pa.coef % pb.coef !== 0) return undefined;
  const syms = [...pa.syms];
  for (const s of pb.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return undefined;
    syms.splice(i, 1);
  }
  return format({ coef: pa.coef / pb.coef, syms });
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}
