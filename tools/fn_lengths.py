#!/usr/bin/env python3
"""The longest Rust functions of a tree: lines from `fn` to its closing brace.

Usage: fn_lengths.py [ROOT] [--top N]. Skips target/ and tests/ directories'
generated snapshots; counts every `fn` (methods, nested fns, test fns).
Braces inside strings, chars and comments are ignored.
"""
import os, re, sys

def strip(src):
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j; continue
        if src.startswith('/*', i):
            j = src.find('*/', i + 2); j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j; continue
        m = re.match(r'r(#*)"', src[i:i+10]) if c == 'r' and (i == 0 or not (src[i-1].isalnum() or src[i-1] == '_')) else None
        if m:
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0))); j = n if j < 0 else j + len(end)
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j; continue
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            out.append(re.sub(r'[^\n]', ' ', src[i:j+1])); i = j + 1; continue
        if c == "'":
            m = re.match(r"'(\\.|[^\\'])'", src[i:i+4]) or re.match(r"'\\u\{[0-9a-fA-F]+\}'", src[i:i+12])
            if m:
                out.append(' ' * len(m.group(0))); i += len(m.group(0)); continue
        out.append(c); i += 1
    return ''.join(out)

def functions(path):
    src = strip(open(path, encoding='utf-8', errors='replace').read())
    for m in re.finditer(r'\bfn\s+([A-Za-z_][A-Za-z0-9_]*)', src):
        # The body: the first `{` at depth 0 of parentheses/angles after the signature, unless `;` comes first.
        i, depth = m.end(), 0
        while i < len(src):
            ch = src[i]
            if ch in '([': depth += 1
            elif ch in ')]': depth -= 1
            elif ch == ';' and depth == 0: i = -1; break
            elif ch == '{' and depth == 0: break
            i += 1
        if i < 0 or i >= len(src):
            continue
        level, j = 0, i
        while j < len(src):
            if src[j] == '{': level += 1
            elif src[j] == '}':
                level -= 1
                if level == 0: break
            j += 1
        start = src.count('\n', 0, m.start()) + 1
        end = src.count('\n', 0, j) + 1
        yield m.group(1), start, end - start + 1

def main():
    args = sys.argv[1:]
    top = 7
    if '--top' in args:
        k = args.index('--top'); top = int(args[k + 1]); del args[k:k + 2]
    root = args[0] if args else '.'
    rows = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in ('target', '.git', 'node_modules')]
        for f in files:
            if f.endswith('.rs'):
                p = os.path.join(d, f)
                for name, line, n in functions(p):
                    rows.append((n, os.path.relpath(p, root), line, name))
    rows.sort(key=lambda r: -r[0])
    for n, p, line, name in rows[:top]:
        print(f'{n:5d}  {p}:{line}  {name}')

if __name__ == '__main__':
    main()
