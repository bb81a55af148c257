"""Middleware of Volx's own."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, which serves /static/, able to run in an async middleware chain.

    WhiteNoise's middleware is sync only: under ASGI, Django would then run every request,
    an AI action too, through a thread that waits for the rest of the chain, the provider
    call included. Finding a static file is a dictionary lookup; serving it is the same
    response either way.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._serve_or_pass_async(request)
        return super().__call__(request)

    async def _serve_or_pass_async(self, request):
        static_file = self._static_file(request)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)

    def _static_file(self, request):
        if self.autorefresh:
            return self.find_file(request.path_info)
        return self.files.get(request.path_info)
