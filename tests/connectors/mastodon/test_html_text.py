from helpline.connectors.mastodon.html_text import html_to_text

OWN = {"own_hrefs": ["https://mastodon.example/@support"], "own_handles": ["support"]}


def mention(user: str, host: str = "mastodon.example") -> str:
    return (
        f'<span class="h-card"><a href="https://{host}/@{user}" class="u-url mention">@<span>{user}</span></a></span>'
    )


def test_paragraphs_breaks_and_entities() -> None:
    html = "<p>Line one<br />line &amp; two</p><p>&lt;b&gt; &quot;quoted&quot; &#39;x&#39;</p>"
    assert html_to_text(html) == "Line one\nline & two\n\n<b> \"quoted\" 'x'"


def test_leading_own_mention_dropped_other_mentions_kept() -> None:
    html = f"<p>{mention('support')} {mention('friend')} my withdrawal is stuck</p>"
    assert html_to_text(html, **OWN) == "@friend my withdrawal is stuck"


def test_own_mention_later_in_text_is_kept() -> None:
    html = f"<p>{mention('support')} hi, is {mention('support')} the real account?</p>"
    assert html_to_text(html, **OWN) == "hi, is @support the real account?"


def test_own_mention_by_acct_from_a_remote_server() -> None:
    html = (
        '<p><span class="h-card"><a href="https://mastodon.example/users/support" class="u-url mention">'
        "@<span>support@mastodon.example</span></a></span> 안녕하세요</p>"
    )
    assert html_to_text(html, own_hrefs=[], own_handles=["support@mastodon.example"]) == "안녕하세요"


def test_long_links_keep_their_hidden_parts() -> None:
    html = (
        '<p>see <a href="https://help.example.com/a/very/long/path"><span class="invisible">https://</span>'
        '<span class="ellipsis">help.example.com/a/ve</span><span class="invisible">ry/long/path</span></a></p>'
    )
    assert html_to_text(html) == "see https://help.example.com/a/very/long/path"


def test_whitespace_collapses_but_pre_keeps_it() -> None:
    assert html_to_text("<p>a\n   b\t c</p><pre>x  y\n z</pre>") == "a b c\n\nx  y\n z"


def test_hashtags_and_cjk_text() -> None:
    html = '<p>出金が遅い <a href="https://m.example/tags/help" class="mention hashtag">#<span>help</span></a></p>'
    assert html_to_text(html) == "出金が遅い #help"


def test_no_html_at_all_and_empty() -> None:
    assert html_to_text("plain words") == "plain words"
    assert html_to_text("") == ""
