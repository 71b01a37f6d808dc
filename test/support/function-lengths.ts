// Measures how long the functions of a TypeScript file are, without a
// compiler: a small lexer skips strings, template literals, comments and
// regular expressions, matches braces, and reports each block opened by a
// function (a `function`, an arrow `=> {`, a method or a getter). Rough on
// purpose, but it cannot be fooled by a brace inside a string or a regex.

export interface FunctionLength {
  line: number;
  lines: number;
  head: string;
}

// A method's head, in three parts so that each fits on a line: modifiers, not a statement's keyword, the signature.
const METHOD_MODIFIERS = /^\s*(?:(?:public|private|protected|static|override|readonly|async|get|set)\s+)*/.source;
const NOT_A_STATEMENT = /(?!(?:if|for|while|switch|catch|with)\b)/.source;
const METHOD_SIGNATURE = /[A-Za-z_$][\w$]*\s*(?:<[^>]*>)?\s*\([^;]*\)\s*(?::\s*[^=;]+)?$/.source;

const FUNCTION_HEAD = [
  /\bfunction\b[^{]*$/, // function name(...) {  and  function (...) {
  /=>\s*$/, // (...) => {
  new RegExp(METHOD_MODIFIERS + NOT_A_STATEMENT + METHOD_SIGNATURE), // name(...): Type {
];

// After one of these, a slash starts a regular expression rather than a division.
const REGEX_MAY_FOLLOW = new Set([
  '(',
  ',',
  '=',
  ':',
  '[',
  '!',
  '&',
  '|',
  '?',
  '{',
  '}',
  ';',
  '+',
  '-',
  '*',
  '%',
  '<',
  '>',
  '~',
  '^',
  '',
]);

export function measureFunctions(source: string): FunctionLength[] {
  const opened: { line: number; head: string; isFunction: boolean }[] = [];
  const found: FunctionLength[] = [];
  let line = 1;
  let lineStart = 0;
  let previousSignificant = '';
  const templateDepths: number[] = [];
  let index = 0;
  const skipQuoted = (quote: string) => {
    for (index++; index < source.length && source[index] !== quote; index++) if (source[index] === '\\') index++;
  };
  while (index < source.length) {
    const character = source[index]!;
    const next = source[index + 1];
    if (character === '\n') {
      line++;
      lineStart = index + 1;
    } else if (character === '/' && next === '/') {
      while (index < source.length && source[index] !== '\n') index++;
      continue;
    } else if (character === '/' && next === '*') {
      const end = source.indexOf('*/', index + 2);
      line += source.slice(index, end).split('\n').length - 1;
      index = end + 2;
      continue;
    } else if (character === '"' || character === "'") {
      skipQuoted(character);
    } else if (character === '/' && REGEX_MAY_FOLLOW.has(previousSignificant)) {
      for (index++; index < source.length && source[index] !== '/'; index++) {
        if (source[index] === '\\') index++;
        else if (source[index] === '[')
          while (index < source.length && source[index] !== ']') index += source[index] === '\\' ? 2 : 1;
      }
    } else if (
      character === '`' ||
      (character === '}' && templateDepths.length > 0 && templateDepths[templateDepths.length - 1] === opened.length)
    ) {
      // In a template literal: skip to its end or to the next ${.
      if (character === '}') templateDepths.pop();
      for (index++; index < source.length; index++) {
        if (source[index] === '\\') index++;
        else if (source[index] === '\n') {
          line++;
          lineStart = index + 1;
        } else if (source[index] === '`') break;
        else if (source[index] === '$' && source[index + 1] === '{') {
          index++;
          templateDepths.push(opened.length);
          break;
        }
      }
    } else if (character === '{') {
      const head = source.slice(lineStart, index);
      opened.push({ line, head: head.trim(), isFunction: FUNCTION_HEAD.some((pattern) => pattern.test(head)) });
    } else if (character === '}') {
      const block = opened.pop();
      if (block?.isFunction) found.push({ line: block.line, lines: line - block.line + 1, head: block.head });
    }
    if (!/\s/.test(character)) previousSignificant = /[\w$)\]]/.test(character) ? 'x' : character;
    index++;
  }
  return found;
}
