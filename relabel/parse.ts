// Relabel configs from YAML text. Apart from relabel/relabel.ts so that code that only applies
// rules (the querier's evaluation Workers) does not load a YAML parser: the npm \`yaml\` package
// was half of such a Worker's start-up (issue 19).

import { parse as parseYaml } from "yaml";
import { type RelabelConfig, RelabelConfigError, relabelConfigsFromDoc } from "./relabel.ts";

/**
 * Parses a relabel config list (YAML, as Prometheus `relabel_configs`) and validates it like
 * Prometheus. An empty document means no rules. Throws {@link RelabelConfigError}.
 */
export function parseRelabelConfigs(yaml: string): RelabelConfig[] {
  if (yaml.trim() === "") return [];
  let doc: unknown;
  try {
    doc = parseYaml(yaml);
  } catch (e) {
    throw new RelabelConfigError(`parsing relabel configuration: ${(e as Error).message}`);
  }
  return relabelConfigsFromDoc(doc);
}
