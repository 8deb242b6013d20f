"""The demo's canned responses, in the four languages the demo's customers write in. Seeded once:
one an agent edited or deleted in a demo that is started again stays as they left it."""

from __future__ import annotations

import redis.asyncio as redis

from helpline.console.canned import CannedResponse, CannedStore
from helpline.routing import keys

DEMO_CANNED = (
    CannedResponse(
        id="demo-greeting",
        title="Greeting",
        texts={
            "en": "Hi {{contact.name}}, this is {{agent.name}} from support. I am looking into it now.",
            "ko": "{{contact.name}}님, 안녕하세요. 고객지원팀 {{agent.name}}입니다. 지금 바로 확인해 드리겠습니다.",
            "zh": "{{contact.name}}，您好！我是客服 {{agent.name}}，正在为您查询。",
            "ja": "{{contact.name}}様、サポートの{{agent.name}}です。ただいま確認いたします。",
        },
    ),
    CannedResponse(
        id="demo-withdrawal-delay",
        title="Withdrawal delayed",
        texts={
            "en": "Your withdrawal is in a delayed batch. It will complete without any action from you; "
            "please do not submit it again.",
            "ko": "출금이 지연된 배치에 포함되어 있습니다. 별도 조치 없이 완료되니 다시 신청하지 마세요.",
            "zh": "您的提现在一个延迟批次中，无需任何操作即可完成，请勿重复提交。",
            "ja": (
                "出金は遅延しているバッチに含まれています。お客様の操作なしで完了しますので、再申請はしないでください。"
            ),
        },
    ),
    CannedResponse(
        id="demo-phishing",
        title="Phishing: secure the account",
        texts={
            "en": "Please change your password and reset 2FA now, then sign out of all devices. We never ask "
            "for your password or 2FA codes.",
            "ko": "지금 바로 비밀번호를 변경하고 2FA를 재설정한 뒤 모든 기기에서 로그아웃하세요. "
            "저희는 비밀번호나 2FA 코드를 절대 요청하지 않습니다.",
            "zh": "请立即修改密码并重置两步验证，然后退出所有设备。我们绝不会索要您的密码或验证码。",
            "ja": "今すぐパスワードを変更し、二段階認証を再設定してから、すべての端末でログアウトしてください。"
            "当社がパスワードや認証コードを尋ねることはありません。",
        },
    ),
)


async def seed_canned(client: redis.Redis) -> int:
    """Add the demo's canned responses that were never added; returns how many were. Idempotent."""
    if not await client.set(keys.console_canned_seeded(), "1", nx=True):
        return 0
    store = CannedStore(client)
    for canned in DEMO_CANNED:
        await store.put(canned)
    return len(DEMO_CANNED)
