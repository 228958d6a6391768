"""A watch from a list's RV of a kind nobody wrote yet never expires for writes elsewhere."""

from __future__ import annotations

import aiohttp

from controller.sandbox.kube import KubeAPIServer


async def test_watch_after_listing_an_unwritten_kind_is_not_expired() -> None:
    async with KubeAPIServer(tls=False) as api:
        headers = {"Authorization": f"Bearer {api.admin_token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{api.url}/api/v1/namespaces/default/configmaps") as reply:
                listed = (await reply.json())["metadata"]["resourceVersion"]
            # Something else is written before the watch starts.
            body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
            async with http.post(f"{api.url}/api/v1/namespaces/default/secrets", json=body) as r:
                assert r.status == 201
            params = {"watch": "true", "resourceVersion": listed, "timeoutSeconds": "1"}
            async with http.get(
                f"{api.url}/api/v1/namespaces/default/configmaps", params=params
            ) as reply:
                lines = [line async for line in reply.content if line.strip()]
    assert not any(b'"ERROR"' in line for line in lines)
