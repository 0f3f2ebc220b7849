/** Message text in Parley's Markdown subset (docs/conversation.md, "Rich text"): **bold**,
 * _italic_ / *italic*, ~~strike~~, `code`, fenced code blocks with a language (highlighted
 * by highlight.js), plus links and @mentions. Built as DOM nodes: text never becomes HTML,
 * except highlight.js's own output, which escapes the code it wraps. */

import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import css from "highlight.js/lib/languages/css";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { h, type Child } from "./dom.js";

const LANGUAGES = { bash, c, cpp, css, go, java, javascript, json, markdown, python, rust, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, lang);
hljs.registerAliases(["sh", "shell"], { languageName: "bash" });
hljs.registerAliases(["js"], { languageName: "javascript" });
hljs.registerAliases(["ts"], { languageName: "typescript" });
hljs.registerAliases(["py"], { languageName: "python" });
hljs.registerAliases(["html"], { languageName: "xml" });

const FENCE = /^(`{3,}|~{3,})\s*([A-Za-z0-9_+#.-]*)[^\n]*$/;

/** Render `text` into block nodes. `me`: my user id (mentions of me are marked). */
export function render(text: string, me: string): Node[] {
  const out: Node[] = [];
  const lines = text.split("\n");
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push(h("p", {}, ...inline(para.join("\n"), me)));
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const m = FENCE.exec(line);
    if (m === null) {
      para.push(line);
      continue;
    }
    flush();
    const fence = m[1] ?? "```";
    const lang = (m[2] ?? "").toLowerCase();
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j] ?? "";
      if (l.trim().startsWith(fence[0]!.repeat(fence.length)) && /^\s*[`~]+\s*$/.test(l)) break;
      body.push(l);
    }
    out.push(codeBlock(body.join("\n"), lang));
    i = j;
  }
  flush();
  return out;
}

function codeBlock(code: string, lang: string): HTMLElement {
  const el = h("code", { class: "hljs" });
  if (lang && hljs.getLanguage(lang)) {
    el.classList.add(`language-${lang}`);
    el.innerHTML = hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  } else {
    el.textContent = code;
  }
  return h("pre", { "data-lang": lang || null, "aria-label": lang ? `${lang} code` : "code" }, el);
}

// Inline: code spans first (nothing inside them is formatted), then the rest.
const INLINE =
  /(\*\*[^*\n]+\*\*)|(~~[^~\n]+~~)|(_[^_\n]+_)|(\*[^*\n]+\*)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])|(@[A-Za-z0-9_.-]+)/g;

export function inline(text: string, me: string): Child[] {
  const parts = text.split(/(`[^`\n]+`)/);
  const out: Child[] = [];
  for (const part of parts) {
    if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) out.push(h("code", {}, part.slice(1, -1)));
    else out.push(...spans(part, me));
  }
  return out;
}

function spans(text: string, me: string): Child[] {
  const out: Child[] = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    const at = m.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const t = m[0];
    if (m[1]) out.push(h("strong", {}, ...spans(t.slice(2, -2), me)));
    else if (m[2]) out.push(h("s", {}, ...spans(t.slice(2, -2), me)));
    else if (m[3] || m[4]) out.push(h("em", {}, ...spans(t.slice(1, -1), me)));
    else if (m[5]) out.push(h("a", { href: t, target: "_blank", rel: "noopener noreferrer nofollow" }, t));
    else if (m[6]) out.push(h("span", { class: t.slice(1) === me ? "mention me" : "mention" }, t));
    last = at + t.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Whether `text` mentions `me` (outside code). */
export function mentions(text: string, me: string): boolean {
  const plain = text.replace(/```[\s\S]*?```|`[^`\n]+`/g, "");
  return new RegExp(`(^|[^A-Za-z0-9_])@${me.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![A-Za-z0-9_-])`).test(plain);
}
