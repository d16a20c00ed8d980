// The sandbox's globals, installed into each fresh QuickJS context before the agent's code.
//
// Evaluated once per execution as `(function (host, config) {...})`. `host` holds the Rust
// functions; they are reachable only through the closures below, never as globals.
// Every builtin used after the agent's code has started (serialization, tool calls, timers)
// is captured here first, so an agent that overwrites `JSON.stringify` or
// `Array.prototype.push` only breaks its own snippet, never the bridge's rules.
(function (host, config) {
  "use strict";
  const g = globalThis;
  const O = Object;
  const apply = Reflect.apply;
  const create = O.create;
  const keys = O.keys;
  const defineProperty = O.defineProperty;
  const freeze = O.freeze;
  const getPrototypeOf = O.getPrototypeOf;
  const isArray = Array.isArray;
  const stringify = JSON.stringify;
  const String_ = String;
  const SetCtor = Set;
  const setAdd = Set.prototype.add;
  const setHas = Set.prototype.has;
  const setDelete = Set.prototype.delete;
  const MapCtor = Map;
  const mapSet = Map.prototype.set;
  const mapGet = Map.prototype.get;
  const mapHas = Map.prototype.has;
  const mapEntries = Map.prototype.entries;
  const setValues = Set.prototype.values;
  const MapProto = Map.prototype;
  const SetProto = Set.prototype;
  const DateProto = Date.prototype;
  const RegExpProto = RegExp.prototype;
  const ErrorProto = Error.prototype;
  const ArrayBufferProto = ArrayBuffer.prototype;
  const isView = ArrayBuffer.isView;
  const dateGetTime = DateProto.getTime;
  const dateToISOString = DateProto.toISOString;
  const arrayFrom = Array.from;
  const stringSlice = String.prototype.slice;
  const arrayPush = Array.prototype.push;
  const promiseThen = Promise.prototype.then;
  const PromiseCtor = Promise;
  const promiseReject = Promise.reject;
  const promiseResolve = Promise.resolve;
  const TypeError_ = TypeError;
  const Error_ = Error;
  const ProxyCtor = Proxy;
  const WeakMapCtor = WeakMap;
  const weakMapGet = WeakMap.prototype.get;
  const weakMapSet = WeakMap.prototype.set;
  const symbolToStringTag = Symbol.toStringTag;

  const push = (array, item) => apply(arrayPush, array, [item]);
  // Appends as an own data property: `push` and `a[i] = x` go through setters a snippet may
  // have put on `Array.prototype`.
  const append = (array, item) =>
    defineProperty(array, array.length, { value: item, writable: true, enumerable: true, configurable: true });
  const slice = (string, start, end) => apply(stringSlice, string, [start, end]);
  const isInstance = (value, proto) => {
    for (let p = getPrototypeOf(value); p !== null; p = getPrototypeOf(p)) {
      if (p === proto) return true;
    }
    return false;
  };

  // ---- console ------------------------------------------------------------------------
  // Once the log budget is spent, further entries are only counted: a flood of
  // console.log calls must not cost the formatting of each entry.
  // The host renders the arguments (strings as they are, objects as JSON, errors with their
  // stacks) straight into what is left of the budget.
  let logsFull = false;
  function logger(level) {
    return function (...args) {
      logsFull = !host.log(level, logsFull ? undefined : args);
    };
  }

  const console_ = create(null);
  for (const level of ["log", "info", "warn", "error", "debug"]) console_[level] = logger(level);
  console_.trace = console_.debug;
  console_.dir = console_.log;
  console_.table = console_.log;
  defineProperty(g, "console", { value: freeze(console_), writable: true, configurable: true });

  // ---- tools ----------------------------------------------------------------------------
  // Names that generic code probes on any object (`await x` looks for `then`); they read as
  // absent instead of throwing "no such tool".
  const PROBES = create(null);
  for (const name of ["then", "toJSON", "constructor", "valueOf", "toString", "inspect",
    "asymmetricMatch", "$$typeof", "nodeType", "prototype", "__proto__", "length", "name"]) {
    PROBES[name] = true;
  }

  function toolFunction(namespace, name) {
    const label = namespace === "" ? "tools." + name : "tools." + namespace + "." + name;
    const fn = {
      [name](args) {
        let json;
        try {
          json = args === undefined ? undefined : stringify(args);
        } catch (e) {
          return apply(promiseReject, PromiseCtor, [
            new TypeError_(label + ": the arguments are not JSON (" + String_(e && e.message) + ")"),
          ]);
        }
        // Created here so that a failure's stack points at the agent's call, not at the bridge.
        const site = new Error_(label + " failed");
        site.name = "ToolError";
        site.tool = namespace === "" ? name : namespace + "." + name;
        return host.call(namespace, name, json, site);
      },
    }[name];
    return freeze(fn);
  }

  function readOnly(what) {
    return () => {
      throw new TypeError_(what + " is read-only: it is built from the tool catalogue");
    };
  }

  function namespaceProxy(namespace) {
    const cache = create(null);
    const label = "tools." + namespace;
    return new ProxyCtor(create(null), {
      get(_, key) {
        if (typeof key !== "string") return undefined;
        const hit = cache[key];
        if (hit !== undefined) return hit;
        // An open namespace (its server is still starting, or down) accepts any name, but
        // not the names generic code probes.
        if (PROBES[key] && host.isOpen(namespace)) return undefined;
        if (host.has(namespace, key)) return (cache[key] = toolFunction(namespace, key));
        if (PROBES[key]) return undefined;
        throw new TypeError_(host.missing(namespace, key));
      },
      has: (_, key) => typeof key === "string" && host.has(namespace, key),
      ownKeys: () => host.names(namespace),
      getOwnPropertyDescriptor(target, key) {
        if (typeof key !== "string" || !host.has(namespace, key)) return undefined;
        const value = cache[key] || (cache[key] = toolFunction(namespace, key));
        return { value, writable: false, enumerable: true, configurable: true };
      },
      set: readOnly(label),
      defineProperty: readOnly(label),
      deleteProperty: readOnly(label),
      setPrototypeOf: readOnly(label),
      preventExtensions: () => false,
    });
  }

  const namespaces = create(null);
  const rootCache = create(null);
  function rootEntry(key) {
    if (namespaces[key] !== undefined) return namespaces[key];
    if (rootCache[key] !== undefined) return rootCache[key];
    if (host.hasNamespace(key)) return (namespaces[key] = namespaceProxy(key));
    if (host.has("", key)) return (rootCache[key] = toolFunction("", key));
    return undefined;
  }
  const tools = new ProxyCtor(create(null), {
    get(_, key) {
      if (typeof key !== "string") return undefined;
      const entry = rootEntry(key);
      if (entry !== undefined) return entry;
      if (PROBES[key]) return undefined;
      throw new TypeError_(host.missing(key, undefined));
    },
    has: (_, key) => typeof key === "string" && rootEntry(key) !== undefined,
    ownKeys: () => host.namespaces(),
    getOwnPropertyDescriptor(_, key) {
      const value = typeof key === "string" ? rootEntry(key) : undefined;
      if (value === undefined) return undefined;
      return { value, writable: false, enumerable: true, configurable: true };
    },
    set: readOnly("tools"),
    defineProperty: readOnly("tools"),
    deleteProperty: readOnly("tools"),
    setPrototypeOf: readOnly("tools"),
    preventExtensions: () => false,
  });
  defineProperty(g, "tools", { value: tools, writable: false, enumerable: false, configurable: false });

  // ---- timers ---------------------------------------------------------------------------
  // Timers are host sleeps: the host's event loop bounds them by the wall clock.
  let nextTimer = 1;
  const cancelled = new SetCtor();
  function reportTimerError(e) {
    host.log("error", ["Uncaught error in a timer callback:", e]);
  }
  function checkCallback(cb, what) {
    if (typeof cb !== "function") {
      throw new TypeError_(what + ": the callback must be a function (strings are not evaluated)");
    }
  }
  function setTimeout(cb, ms, ...args) {
    checkCallback(cb, "setTimeout");
    const id = nextTimer++;
    apply(promiseThen, host.sleep(id, +ms || 0), [() => {
      try { apply(cb, undefined, args); } catch (e) { reportTimerError(e); }
    }]);
    return id;
  }
  function setInterval(cb, ms, ...args) {
    checkCallback(cb, "setInterval");
    const id = nextTimer++;
    const period = +ms || 0;
    const tick = () => {
      if (apply(setHas, cancelled, [id])) return;
      try { apply(cb, undefined, args); } catch (e) { reportTimerError(e); }
      if (!apply(setHas, cancelled, [id])) apply(promiseThen, host.sleep(id, period), [tick]);
    };
    apply(promiseThen, host.sleep(id, period), [tick]);
    return id;
  }
  function clearTimer(id) {
    if (typeof id !== "number") return;
    apply(setAdd, cancelled, [id]);
    host.cancel(id);
  }
  const define = (name, value) =>
    defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  define("setTimeout", setTimeout);
  define("setInterval", setInterval);
  define("clearTimeout", clearTimer);
  define("clearInterval", clearTimer);
  if (typeof g.queueMicrotask !== "function") {
    define("queueMicrotask", (cb) => {
      checkCallback(cb, "queueMicrotask");
      apply(promiseThen, apply(promiseResolve, PromiseCtor, []), [cb]);
    });
  }

  // ---- structuredClone ------------------------------------------------------------------
  function cloneError(what) {
    const e = new Error_(what + " could not be cloned");
    e.name = "DataCloneError";
    return e;
  }
  function structuredClone(value) {
    const memory = new MapCtor();
    const clone = (v) => {
      if (typeof v === "function" || typeof v === "symbol") throw cloneError(String_(typeof v));
      if (v === null || typeof v !== "object") return v;
      if (apply(mapHas, memory, [v])) return apply(mapGet, memory, [v]);
      let copy;
      if (isInstance(v, DateProto)) copy = new Date(apply(dateGetTime, v, []));
      else if (isInstance(v, RegExpProto)) copy = new RegExp(v.source, v.flags);
      else if (isInstance(v, ArrayBufferProto)) copy = v.slice(0);
      else if (isView(v)) copy = new v.constructor(v);
      else if (isInstance(v, MapProto)) {
        copy = new MapCtor();
        apply(mapSet, memory, [v, copy]);
        for (const [k, x] of arrayFrom(apply(mapEntries, v, []))) apply(mapSet, copy, [clone(k), clone(x)]);
        return copy;
      } else if (isInstance(v, SetProto)) {
        copy = new SetCtor();
        apply(mapSet, memory, [v, copy]);
        for (const x of arrayFrom(apply(setValues, v, []))) apply(setAdd, copy, [clone(x)]);
        return copy;
      } else if (isInstance(v, ErrorProto)) {
        copy = new Error_(v.message);
        copy.name = v.name;
      } else if (isArray(v)) {
        copy = [];
        apply(mapSet, memory, [v, copy]);
        for (let i = 0; i < v.length; i++) copy[i] = clone(v[i]);
        return copy;
      } else if (getPrototypeOf(v) === O.prototype || getPrototypeOf(v) === null) {
        copy = {};
        apply(mapSet, memory, [v, copy]);
        for (const k of keys(v)) copy[k] = clone(v[k]);
        return copy;
      } else {
        throw cloneError("this object");
      }
      apply(mapSet, memory, [v, copy]);
      return copy;
    };
    return clone(value);
  }
  define("structuredClone", structuredClone);

  // ---- text and base64 -------------------------------------------------------------------
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") { return host.utf8Encode(String_(input)); }
  }
  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      const normalized = String_(label).toLowerCase();
      if (normalized !== "utf-8" && normalized !== "utf8") {
        throw new TypeError_("TextDecoder: only utf-8 is supported, not " + label);
      }
      this.fatal = !!(options && options.fatal);
    }
    get encoding() { return "utf-8"; }
    decode(input) {
      if (input === undefined) return "";
      const bytes = isView(input)
        ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(input);
      return host.utf8Decode(bytes, this.fatal);
    }
  }
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("atob", (data) => host.atob(String_(data)));
  define("btoa", (data) => host.btoa(String_(data)));

  // ---- stack traces ---------------------------------------------------------------------
  // QuickJS hands an `Error.prepareStackTrace` callback its CallSite objects, whose
  // getFunction() returns the frame's function itself: for the prelude's frames a bridge
  // function, for native frames a host function. The snippet's callback gets copies instead,
  // which answer what V8 answers for strict-mode frames: getFunction() and getThis() are
  // undefined. Everything else a frame says (file, line, column, name) is kept.
  const prepareDescriptor = O.getOwnPropertyDescriptor(Error_, "prepareStackTrace");
  if (prepareDescriptor && typeof prepareDescriptor.set === "function") {
    const engineSetPrepare = prepareDescriptor.set;
    const siteFields = (site) => {
      // Only the engine's own CallSites reach here; their prototype never reaches the snippet.
      const field = (name) => {
        try { return site[name](); } catch (e) { return null; }
      };
      return {
        file: field("getFileName"),
        name: field("getFunctionName"),
        line: field("getLineNumber"),
        column: field("getColumnNumber"),
        native: !!field("isNative"),
        construct: !!field("isConstructor"),
      };
    };
    const frames = new WeakMapCtor();
    const fields = (site) => {
      const data = apply(weakMapGet, frames, [site]);
      if (data === undefined) throw new TypeError_("not a CallSite");
      return data;
    };
    const CallSite = function CallSite() {
      throw new TypeError_("CallSite is not a constructor");
    };
    const siteProto = create(O.prototype, {
      constructor: { value: CallSite },
      getFileName: { value: function getFileName() { return fields(this).file; } },
      getScriptNameOrSourceURL: { value: function getScriptNameOrSourceURL() { return fields(this).file; } },
      getFunctionName: { value: function getFunctionName() { return fields(this).name; } },
      getMethodName: { value: function getMethodName() { fields(this); return null; } },
      getTypeName: { value: function getTypeName() { fields(this); return null; } },
      getLineNumber: { value: function getLineNumber() { return fields(this).line; } },
      getColumnNumber: { value: function getColumnNumber() { return fields(this).column; } },
      getEvalOrigin: { value: function getEvalOrigin() { fields(this); return undefined; } },
      getFunction: { value: function getFunction() { fields(this); return undefined; } },
      getThis: { value: function getThis() { fields(this); return undefined; } },
      isNative: { value: function isNative() { return fields(this).native; } },
      isConstructor: { value: function isConstructor() { return fields(this).construct; } },
      isToplevel: { value: function isToplevel() { fields(this); return false; } },
      isEval: { value: function isEval() { fields(this); return false; } },
      isAsync: { value: function isAsync() { fields(this); return false; } },
      isPromiseAll: { value: function isPromiseAll() { fields(this); return false; } },
      getPromiseIndex: { value: function getPromiseIndex() { fields(this); return null; } },
      toString: {
        value: function toString() {
          const f = fields(this);
          const where = f.native
            ? "native"
            : String_(f.file) + (f.line === null ? "" : ":" + f.line + ":" + f.column);
          return f.name ? f.name + " (" + where + ")" : where;
        },
      },
    });
    defineProperty(siteProto, symbolToStringTag, { value: "CallSite", configurable: true });
    freeze(siteProto);
    CallSite.prototype = siteProto;
    freeze(CallSite);
    let snippetPrepare;
    // What the engine calls; it stays unreachable: the snippet sees its own callback, and no
    // frame copy hands out a function.
    const prepare = function (error, sites) {
      const copies = [];
      for (let i = 0; i < sites.length; i++) {
        const copy = create(siteProto);
        apply(weakMapSet, frames, [copy, siteFields(sites[i])]);
        push(copies, copy);
      }
      return apply(snippetPrepare, this, [error, copies]);
    };
    defineProperty(Error_, "prepareStackTrace", {
      get: function prepareStackTrace() {
        return snippetPrepare;
      },
      set: function prepareStackTrace(value) {
        if (this === undefined || this === null) {
          throw new TypeError_("Error.prepareStackTrace: not an object");
        }
        snippetPrepare = value;
        apply(engineSetPrepare, Error_, [typeof value === "function" ? prepare : value]);
      },
      enumerable: false,
      configurable: true,
    });
  }

  const toPromise = (value) => apply(promiseResolve, PromiseCtor, [value]);
  // What the host's serializer calls (`serialize.rs`): captured here, before the snippet
  // could replace any of them.
  const getter = (proto, name) => O.getOwnPropertyDescriptor(proto, name).get;
  const intrinsics = freeze({
    string: String_,
    slice: (s, start, end) => slice(s, start, end),
    keys,
    isArray,
    dateTime: dateGetTime,
    dateIso: dateToISOString,
    mapEntries,
    mapNext: getPrototypeOf(apply(mapEntries, new MapCtor(), [])).next,
    mapSize: getter(MapProto, "size"),
    setValues,
    setNext: getPrototypeOf(apply(setValues, new SetCtor(), [])).next,
    setSize: getter(SetProto, "size"),
  });
  return { toPromise, intrinsics };
})
