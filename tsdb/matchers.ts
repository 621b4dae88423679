// Label matchers with Prometheus semantics: `=`, `!=`, `=~`, `!~`; regexes are fully anchored.

/** Matcher operator. */
export enum MatchType {
  Equal = "=",
  NotEqual = "!=",
  Regexp = "=~",
  NotRegexp = "!~",
}

/** A regex matcher's pattern is not valid RE2 (or uses RE2 syntax we cannot translate). */
export class InvalidRegexError extends Error {
  override name = "InvalidRegexError";
}

/** One label matcher. `matches("")` is how a missing label is tested, as in Prometheus. */
export class Matcher {
  private readonly re?: RegExp;

  constructor(readonly type: MatchType, readonly name: string, readonly value: string) {
    if (type === MatchType.Regexp || type === MatchType.NotRegexp) {
      try {
        this.re = new RegExp(`^(?:${value})$`, "su");
      } catch (e) {
        throw new InvalidRegexError(
          `invalid regular expression ${JSON.stringify(value)}: ${(e as Error).message}`,
        );
      }
    }
  }

  /** True when label value `v` satisfies the matcher. */
  matches(v: string): boolean {
    switch (this.type) {
      case MatchType.Equal:
        return v === this.value;
      case MatchType.NotEqual:
        return v !== this.value;
      case MatchType.Regexp:
        return this.re!.test(v);
      case MatchType.NotRegexp:
        return !this.re!.test(v);
    }
  }

  /** Prometheus form, e.g. `job=~"api|web"`. */
  toString(): string {
    return `${this.name}${this.type}${JSON.stringify(this.value)}`;
  }
}
