"""Group robots as teams use them (#23 item 8), against a local HTTP server: DingTalk's 加签
(timestamp and sign in the URL) and keyword mode, Feishu's 签名校验 (timestamp and sign in the
body), both checked here with the algorithms as the platforms document them; one robot per team;
Feishu's text without the title twice; the secret only from the environment."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.errors import ConfigError
from sheetcrm.store import Store

from .test_digest import Robot, queue, with_mail

SECRET = "SEC0123456789abcdef"


@pytest.fixture
def robot():
    r = Robot({"errcode": 0, "code": 0})  # 钉钉 and 企业微信 say errcode, 飞书 code
    yield r
    r.close()


def digest(tmp_path, mail: str) -> CliRunner:
    config = with_mail(tmp_path, mail)
    queue(Store(config.store_url))
    return CliRunner().invoke(cli, ["--config", str(tmp_path / "config.toml"), "digest",
                                    "--now", "2026-11-23T08:00"])  # fmt: skip


def test_dingtalk_posts_are_signed_and_carry_the_keyword(tmp_path, robot, monkeypatch):
    monkeypatch.setenv("DINGTALK_SECRET", SECRET)
    out = digest(tmp_path, f'[mail]\ntransport = "webhook"\nsender = "crm@example.com"\n'
                           f'webhook_url = "{robot.base}/robot/send?access_token=abc"\n'
                           f'webhook_format = "dingtalk"\nwebhook_secret_env = "DINGTALK_SECRET"\n'
                           f'webhook_keyword = "CRM"\n')  # fmt: skip
    assert out.exit_code == 0, out.output
    assert len(robot.posts) == 3  # 王明, 李明, 刘洋
    for path, body in zip(robot.paths, robot.posts, strict=True):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        assert query["access_token"] == ["abc"]
        stamp = query["timestamp"][0]
        # https://open.dingtalk.com/document/robots/customize-robot-security-settings
        expected = base64.b64encode(hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(),
                                             hashlib.sha256).digest()).decode()  # fmt: skip
        assert query["sign"] == [expected]  # parse_qs undid the URL encoding
        assert body["msgtype"] == "markdown" and "CRM" in body["markdown"]["text"]


def test_feishu_posts_are_signed_and_say_the_title_once(tmp_path, robot, monkeypatch):
    monkeypatch.setenv("FEISHU_SECRET", SECRET)
    out = digest(tmp_path, f'[mail]\ntransport = "webhook"\nsender = "crm@example.com"\n'
                           f'webhook_url = "{robot.base}/open-apis/bot/v2/hook/x"\n'
                           f'webhook_format = "feishu"\nwebhook_secret_env = "FEISHU_SECRET"\n')  # fmt: skip
    assert out.exit_code == 0, out.output
    for body in robot.posts:
        # https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (签名校验)
        key = f"{body['timestamp']}\n{SECRET}".encode()
        assert (
            body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        )
        text = body["content"]["text"]
        assert text.count("sheetcrm 每日摘要 2026-11-23") == 1


def test_each_team_posts_to_its_own_group(tmp_path, robot):
    out = digest(tmp_path, f'[mail]\ntransport = "webhook"\nsender = "crm@example.com"\n'
                           f'webhook_url = "{robot.base}/default"\n'
                           f'team_webhooks = {{ "华东销售部" = "{robot.base}/east" }}\n')  # fmt: skip
    assert out.exit_code == 0, out.output
    by_path = {}
    for path, body in zip(robot.paths, robot.posts, strict=True):
        who = next(
            n for n in ("王明", "李明", "刘洋") if f"{n}，你好" in body["markdown"]["content"]
        )
        by_path[who] = path
    assert by_path == {"王明": "/east", "李明": "/east", "刘洋": "/east"}  # all of 华东销售部


def test_the_secret_lives_in_the_environment(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="webhook_secret_env"):
        with_mail(tmp_path, '[mail]\ntransport = "webhook"\nsender = "crm@example.com"\n'
                            'webhook_url = "http://127.0.0.1:9/x"\nwebhook_secret = "abc"\n')  # fmt: skip
    monkeypatch.delenv("NOT_SET_SECRET", raising=False)
    out = digest(tmp_path, '[mail]\ntransport = "webhook"\nsender = "crm@example.com"\n'
                           'webhook_url = "http://127.0.0.1:9/x"\nwebhook_format = "dingtalk"\n'
                           'webhook_secret_env = "NOT_SET_SECRET"\n')  # fmt: skip
    assert out.exit_code == 1 and "NOT_SET_SECRET is not set" in out.output
    assert "Traceback" not in out.output
