/**
 * One table per resource: each input's default and what a change of it does.
 * A resource's settings (inputs with defaults applied) and its diff are
 * derived from its table, so an input is declared once in its Inputs type and
 * once here (the compiler checks the table names every input, and only
 * those). Pure: no I/O, and imported by the facades for types only.
 */
import type * as pulumi from "@pulumi/pulumi";
import { sameValue } from "./common";
import type { Props } from "./common";

/**
 * What a change of an input does:
 * - `replace`: a new resource (the resource says whether the old one goes first);
 * - `update`: an update that acts on it (restart, re-create, re-check);
 * - `record`: an update that only records the new value (nothing changes outside);
 * - `none`: not a change (the value is used by the next create or update).
 */
export type Effect = "replace" | "update" | "record" | "none";

/** One input's row. */
export interface Field<T> {
  /** What a change of the whole input does. */
  readonly effect: Effect;
  /** The value used when the input is absent (undefined or null). */
  readonly default?: T;
  /** Sub-fields of an object input (a connection's `host`) that name another target: a change of one replaces. */
  readonly replaceOn?: readonly (T extends object ? keyof T & string : never)[];
  /** Leaving the input out keeps what the target has: a change to absent is no change. */
  readonly unsetKeeps?: true;
}

/** A resource's table: a row for every input of `I`, and nothing else. */
export type Fields<I> = { readonly [K in keyof I]-?: Field<NonNullable<I[K]>> };

/** The inputs with the table's defaults applied: an input with a default is always present. */
export type Settled<I, F> = I & { [K in DefaultedKeys<I, F>]-?: NonNullable<I[K]> };

/** The inputs the table gives a default. */
export type DefaultedKeys<I, F> = { [K in keyof I]-?: F extends { readonly [P in K]: { readonly default: unknown } } ? K : never }[keyof I];

/** The inputs with the table's defaults applied to absent (undefined or null) ones. */
export function withDefaults<I extends Props, const F extends Fields<I>>(fields: F, inputs: I): Settled<I, F> {
  const out: Props = { ...inputs };
  for (const [k, row] of Object.entries(fields) as [string, Field<unknown>][]) {
    if ((out[k] === undefined || out[k] === null) && row.default !== undefined) out[k] = row.default;
  }
  return out as Settled<I, F>;
}

/** The inputs of the table with the given effects, in table order. */
export function fieldsWith<I>(fields: Fields<I>, ...effects: Effect[]): (keyof I & string)[] {
  return (Object.keys(fields) as (keyof I & string)[]).filter((k) => effects.includes(fields[k].effect));
}

/** The changed inputs, by what their change does. */
export interface Changed {
  /** Inputs whose change replaces: whole inputs in table order, then inputs whose `replaceOn` sub-field changed. */
  replaces: string[];
  /** Changed inputs with effect `update`. */
  updates: string[];
  /** Changed inputs with effect `record`. */
  records: string[];
}

/** What changed between the stored state and the new inputs, by the table. */
export function changedFields<I extends object>(fields: Fields<I>, olds: Props, news: I): Changed {
  const n = news as Props;
  const whole: string[] = [];
  const sub: string[] = [];
  const updates: string[] = [];
  const records: string[] = [];
  for (const [k, row] of Object.entries(fields) as [string, Field<unknown>][]) {
    const changed = !sameValue(olds[k], n[k]) && !(row.unsetKeeps === true && (n[k] === undefined || n[k] === null));
    const o = (olds[k] ?? {}) as Props;
    const v = (n[k] ?? {}) as Props;
    if (changed && row.effect === "replace") whole.push(k);
    else if ((row.replaceOn ?? []).some((s: string) => !sameValue(o[s], v[s]))) sub.push(k);
    else if (changed && row.effect === "update") updates.push(k);
    else if (changed && row.effect === "record") records.push(k);
  }
  return { replaces: [...whole, ...sub], updates, records };
}

/**
 * The diff by the table: a change when any input changed (or `pending`: the
 * state says the work is not done, e.g. refresh saw drift); replacements
 * delete first when `deleteBeforeReplace`.
 */
export function diffByTable<I extends object>(fields: Fields<I>, olds: Props, news: I, opts: { deleteBeforeReplace: boolean; pending?: boolean }): pulumi.dynamic.DiffResult & { replaces: string[] } {
  const c = changedFields(fields, olds, news);
  const changes = c.replaces.length + c.updates.length + c.records.length > 0 || opts.pending === true;
  return { changes, replaces: c.replaces, deleteBeforeReplace: opts.deleteBeforeReplace && c.replaces.length > 0 };
}

/**
 * True when `Args` (a facade's documented inputs, as Pulumi inputs) resolves
 * to exactly `Inputs`: the same names, the same optionality, the same types.
 */
export type ArgsMatch<Args, Inputs> = [pulumi.Unwrap<Args>] extends [Inputs]
  ? [Inputs] extends [pulumi.Unwrap<Args>]
    ? [Exclude<keyof Args, keyof Inputs>, Exclude<keyof Inputs, keyof Args>, OptionalKeys<Args>] extends [never, never, OptionalKeys<Inputs>]
      ? [OptionalKeys<Inputs>] extends [OptionalKeys<Args>]
        ? true
        : false
      : false
    : false
  : false;

/** The optional keys of `T`. */
export type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];

/** Compiles only when `T` is `true`: `type X = Assert<ArgsMatch<A, I>>`. */
export type Assert<T extends true> = T;

/**
 * The state after an update that keeps what was done: the old outputs with
 * every input of `fields` taken from `news` — an optional input no longer
 * given is dropped, not kept from before (else the next diff sees it again).
 */
export function recordedState<O extends object, I extends object>(fields: Record<string, unknown>, olds: O, news: I): O & I {
  const kept: Record<string, unknown> = { ...(olds as Record<string, unknown>) };
  for (const k of Object.keys(fields)) delete kept[k];
  return { ...kept, ...news } as O & I;
}
