// How mockhub's body is walked: serde_json 1.0.145's (f7248be) SeqAccess and MapAccess (src/de.rs),
// wrapped as dtolnay/path-to-error 0.1.20 (9685afd) wraps them (src/de.rs, src/path.rs) to report
// the path an error happened at.
import { JsonError, JsonReader, QUOTE } from "./json-reader";

// serde_path_to_error 0.1.20: where an error happened. Seq segments print as "[i]", map keys as
// the key, keys that were never read as "?"; the first path recorded wins (Track::trigger), even
// for an error a visitor later swallows.
export type Segment = { index: number } | { key: string } | "unknown";

export class Track {
  path?: Segment[];

  trigger(path: Segment[]): void {
    this.path ??= path;
  }

  /** Runs a step that path_to_error wraps: any error leaving it records `path` (if none yet). */
  run<T>(path: Segment[], step: () => T): T {
    try {
      return step();
    } catch (err) {
      if (err instanceof JsonError) {
        this.trigger(path);
      }
      throw err;
    }
  }
}

export function displayPath(path: Segment[]): string {
  if (path.every((s) => s === "unknown")) {
    return "";
  }
  let text = "";
  path.forEach((segment, i) => {
    if (segment === "unknown") {
      text += `${i > 0 ? "." : ""}?`;
    } else if ("index" in segment) {
      text += `[${segment.index}]`;
    } else {
      text += `${i > 0 ? "." : ""}${segment.key}`;
    }
  });
  return `${text}: `;
}

/** serde_json's SeqAccess (has_next_element), wrapped by path_to_error's SeqAccess. */
export class SeqAccess {
  private first = true;
  private index = 0;

  constructor(
    private readonly r: JsonReader,
    private readonly track: Track,
    private readonly path: Segment[],
  ) {}

  next<T>(element: (path: Segment[]) => T): T | undefined {
    const elementPath = [...this.path, { index: this.index++ }];
    return this.track.run(this.path, () =>
      this.hasNext() ? this.track.run(elementPath, () => element(elementPath)) : undefined,
    );
  }

  private hasNext(): boolean {
    const c = this.r.whitespace();
    if (c === undefined) {
      throw this.r.peekError("EofWhileParsingList");
    }
    if (c === 0x5d) {
      return false;
    }
    if (this.first) {
      this.first = false;
      return true;
    }
    if (c !== 0x2c) {
      throw this.r.peekError("ExpectedListCommaOrEnd");
    }
    this.r.eat();
    const after = this.r.whitespace();
    if (after === 0x5d) {
      throw this.r.peekError("TrailingComma");
    }
    if (after === undefined) {
      throw this.r.peekError("EofWhileParsingValue");
    }
    return true;
  }
}

/** serde_json's MapAccess (has_next_key, MapKey), wrapped by path_to_error's MapAccess and CaptureKey. */
export class MapAccess {
  private first = true;
  private key?: string;

  constructor(
    private readonly r: JsonReader,
    private readonly track: Track,
    private readonly path: Segment[],
  ) {}

  nextKey(): string | undefined {
    try {
      if (!this.hasNext()) {
        return undefined;
      }
      this.r.eat();
      this.key = this.r.parseStr();
      return this.key;
    } catch (err) {
      if (err instanceof JsonError) {
        this.track.trigger([...this.path, this.key === undefined ? "unknown" : { key: this.key }]);
        this.key = undefined;
      }
      throw err;
    }
  }

  nextValue<T>(value: (path: Segment[]) => T): T {
    const valuePath: Segment[] = [...this.path, this.key === undefined ? "unknown" : { key: this.key }];
    this.key = undefined;
    return this.track.run(this.path, () => {
      this.r.parseObjectColon();
      return this.track.run(valuePath, () => value(valuePath));
    });
  }

  private hasNext(): boolean {
    const c = this.r.whitespace();
    if (c === undefined) {
      throw this.r.peekError("EofWhileParsingObject");
    }
    if (c === 0x7d) {
      return false;
    }
    if (this.first) {
      this.first = false;
      if (c !== QUOTE) {
        throw this.r.peekError("KeyMustBeAString");
      }
      return true;
    }
    if (c !== 0x2c) {
      throw this.r.peekError("ExpectedObjectCommaOrEnd");
    }
    this.r.eat();
    const after = this.r.whitespace();
    if (after === QUOTE) {
      return true;
    }
    throw this.r.peekError(
      after === 0x7d ? "TrailingComma" : after === undefined ? "EofWhileParsingValue" : "KeyMustBeAString",
    );
  }
}
