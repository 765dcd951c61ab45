// Helpers both parts of the native addon (addon.cc, xdp.cc) use to talk to V8: throwing a
// system call's errno, reading and setting numeric properties, and unmapping a
// BackingStore's memory when V8 frees it.
#pragma once

#include <node.h>
#include <sys/mman.h>
#include <v8.h>

#include <cstring>
#include <string>

namespace netvm {

inline void ThrowErrno(v8::Isolate* isolate, const char* what, int err, const std::string& path) {
  std::string msg = std::string(what) + " failed for " + path + ": " + strerror(err);
  v8::Local<v8::Value> e = v8::Exception::Error(v8::String::NewFromUtf8(isolate, msg.c_str()).ToLocalChecked());
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  e.As<v8::Object>()
      ->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "errno"), v8::Number::New(isolate, err))
      .Check();
  e.As<v8::Object>()
      ->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "syscall"),
            v8::String::NewFromUtf8(isolate, what).ToLocalChecked())
      .Check();
  isolate->ThrowException(e);
}

inline void Unmap(void* data, size_t length, void* /*deleter_data*/) {
  if (data != nullptr && length > 0) munmap(data, length);
}

inline double NumProp(v8::Isolate* isolate, v8::Local<v8::Object> o, const char* key, double dflt) {
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Value> v;
  if (!o->Get(ctx, v8::String::NewFromUtf8(isolate, key).ToLocalChecked()).ToLocal(&v) || v->IsUndefined()) return dflt;
  return v->NumberValue(ctx).FromMaybe(dflt);
}

inline void SetNum(v8::Isolate* isolate, v8::Local<v8::Object> o, const char* key, double v) {
  o->Set(isolate->GetCurrentContext(), v8::String::NewFromUtf8(isolate, key).ToLocalChecked(), v8::Number::New(isolate, v)).Check();
}

}  // namespace netvm
