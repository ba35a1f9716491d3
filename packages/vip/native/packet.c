/* dualsip vip: minimal AF_PACKET binding. Frames are built in TypeScript; this only opens a
 * socket bound to an interface, sends/receives whole frames, reads an interface's index+MAC. */
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_packet.h>

static napi_value fail(napi_env env, int err, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, e, num;
  napi_create_string_utf8(env, err == EPERM ? "EPERM" : err == ENODEV ? "ENODEV" : err == EACCES ? "EACCES" : "ESYSCALL", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &e);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, e, "errno", num);
  napi_throw(env, e);
  return NULL;
}

static int32_t arg_int(napi_env env, napi_value v) { int32_t n = -1; napi_get_value_int32(env, v, &n); return n; }

/* open(ifindex, ethertype) -> non-blocking fd bound to ifindex; protocol set only at bind (0 = send only: no RCU wait) */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int ifindex = arg_int(env, argv[0]), proto = htons((uint16_t)arg_int(env, argv[1]));
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket(AF_PACKET)");
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = proto, .sll_ifindex = ifindex };
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { int e = errno; close(fd); return fail(env, e, "bind(AF_PACKET)"); }
  napi_create_int32(env, fd, &out);
  return out;
}

/* send(fd, frame) -> bytes written */
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 2, len; napi_value argv[2], out; void *data;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_buffer_info(env, argv[1], &data, &len);
  ssize_t n = send(arg_int(env, argv[0]), data, len, 0);
  if (n < 0) return fail(env, errno, "send(AF_PACKET)");
  napi_create_int32(env, (int32_t)n, &out);
  return out;
}

/* recv(fd) -> Buffer, or null when nothing is queued */
static napi_value Recv(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1], out; unsigned char buf[2048]; void *copy;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  ssize_t n = recv(arg_int(env, argv[0]), buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { napi_get_null(env, &out); return out; }
  if (n < 0) return fail(env, errno, "recv(AF_PACKET)");
  napi_create_buffer_copy(env, (size_t)n, buf, &copy, &out);
  return out;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  close(arg_int(env, argv[0]));
  return NULL;
}

/* ifInfo(name) -> { index, mac } */
static napi_value IfInfo(napi_env env, napi_callback_info info) {
  size_t argc = 1, len; napi_value argv[1], out, v; struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_string_utf8(env, argv[0], ifr.ifr_name, IFNAMSIZ, &len);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, errno, "socket(AF_INET)");
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) { int e = errno; close(fd); return fail(env, e, "SIOCGIFINDEX"); }
  int index = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) { int e = errno; close(fd); return fail(env, e, "SIOCGIFHWADDR"); }
  close(fd);
  void *mac;
  napi_create_object(env, &out);
  napi_create_int32(env, index, &v); napi_set_named_property(env, out, "index", v);
  napi_create_buffer_copy(env, 6, ifr.ifr_hwaddr.sa_data, &mac, &v); napi_set_named_property(env, out, "mac", v);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "open", 0, Open, 0, 0, 0, napi_enumerable, 0 }, { "send", 0, Send, 0, 0, 0, napi_enumerable, 0 },
    { "recv", 0, Recv, 0, 0, 0, napi_enumerable, 0 }, { "close", 0, Close, 0, 0, 0, napi_enumerable, 0 },
    { "ifInfo", 0, IfInfo, 0, 0, 0, napi_enumerable, 0 },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
