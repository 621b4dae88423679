/// <reference lib="dom" />
// deno-lint-ignore-file no-import-prefix -- browser bundle deps are pinned inline (ui/build.ts)
// The PromQL expression editor: CodeMirror 6 with the Prometheus project's PromQL language
// (highlighting, completion of metric/label names and values from the API, parse errors).

import {
  drawSelection,
  EditorView,
  highlightSpecialChars,
  keymap,
  placeholder,
} from "npm:@codemirror/view@6.43.15";
import { EditorState, Prec } from "npm:@codemirror/state@6.7.6";
import {
  bracketMatching,
  HighlightStyle,
  syntaxHighlighting,
} from "npm:@codemirror/language@6.13.1";
import {
  acceptCompletion,
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  completionStatus,
} from "npm:@codemirror/autocomplete@6.20.4";
import {
  defaultKeymap,
  history,
  historyKeymap,
  insertNewlineAndIndent,
} from "npm:@codemirror/commands@6.11.1";
import { type Diagnostic, forEachDiagnostic } from "npm:@codemirror/lint@6.9.8";
import { tags } from "npm:@lezer/highlight@1.2.5";
import { PromQLExtension } from "npm:@prometheus-io/codemirror-promql@0.314.0";

/** Colours of PromQL tokens (readable on white, like the Prometheus UI's light theme). */
const promqlHighlight = HighlightStyle.define([
  { tag: tags.keyword, color: "#708" },
  { tag: tags.operatorKeyword, color: "#708" },
  { tag: tags.modifier, color: "#708" },
  { tag: tags.logicOperator, color: "#708" },
  { tag: tags.function(tags.variableName), color: "#2e55b8" },
  { tag: tags.labelName, color: "#b45500" },
  { tag: tags.string, color: "#1a7f37" },
  { tag: tags.number, color: "#116644" },
  { tag: tags.comment, color: "#888", fontStyle: "italic" },
  { tag: tags.invalid, color: "#c00" },
]);

/** Options of {@link createExpressionEditor}. */
export interface ExpressionEditorOptions {
  parent: HTMLElement;
  initial: string;
  /** API prefix for completion requests (`<prefix>/api/v1/...`). */
  prefix: string;
  /** Called on Enter (Shift+Enter inserts a newline). */
  onExecute: () => void;
  /** Called with the parse problems after each change (empty when the expression parses). */
  onDiagnostics: (messages: string[]) => void;
}

/** A mounted editor. */
export interface ExpressionEditor {
  value(): string;
  setValue(expr: string): void;
  focus(): void;
  destroy(): void;
}

/** Mounts a PromQL editor into `opts.parent`. */
export function createExpressionEditor(opts: ExpressionEditorOptions): ExpressionEditor {
  const promql = new PromQLExtension()
    .setComplete({
      remote: {
        url: opts.prefix,
        httpMethod: "GET",
        cache: { maxAge: 5 * 60_000 },
      },
    });
  let lastReported = "";
  const report = (state: EditorState) => {
    const msgs: string[] = [];
    forEachDiagnostic(state, (d: Diagnostic) => {
      msgs.push(d.message);
    });
    const key = msgs.join("\n");
    if (key !== lastReported) {
      lastReported = key;
      opts.onDiagnostics(msgs);
    }
  };
  const view = new EditorView({
    parent: opts.parent,
    state: EditorState.create({
      doc: opts.initial,
      extensions: [
        highlightSpecialChars(),
        history(),
        drawSelection(),
        bracketMatching(),
        closeBrackets(),
        // no interaction delay: Enter right after the list appears picks the item (it would
        // otherwise fall through and run a half-typed expression)
        autocompletion({ activateOnTyping: true, maxRenderedOptions: 200, interactionDelay: 0 }),
        syntaxHighlighting(promqlHighlight),
        placeholder("Expression (press Shift+Enter for newlines)"),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ "aria-label": "Expression", spellcheck: "false" }),
        promql.asExtension(),
        // like the Prometheus UI: Enter picks the open completion or runs the query,
        // Shift+Enter inserts a newline
        Prec.highest(keymap.of([
          {
            key: "Enter",
            run: (v) => {
              if (completionStatus(v.state) !== null && acceptCompletion(v)) return true;
              opts.onExecute();
              return true;
            },
          },
          { key: "Shift-Enter", run: insertNewlineAndIndent },
        ])),
        keymap.of([
          ...closeBracketsKeymap,
          ...completionKeymap,
          ...historyKeymap,
          ...defaultKeymap,
        ]),
        EditorView.updateListener.of((u) => {
          // lint results arrive as their own transactions; check on every update
          report(u.state);
        }),
      ],
    }),
  });
  return {
    value: () => view.state.doc.toString(),
    setValue: (expr) =>
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: expr } }),
    focus: () => view.focus(),
    destroy: () => {
      view.destroy();
      promql.destroy();
    },
  };
}
