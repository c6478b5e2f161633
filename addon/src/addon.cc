// tapvs native addon: TAP ports on batched zero-copy rings (see layout.h).
#include <napi.h>

#include "engine.h"

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return tapvs::Engine::Init(env, exports); }

NODE_API_MODULE(tapvs, InitAll)
