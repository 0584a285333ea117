// The part of Postman's script sandbox that the collection's scripts use.
// The runner evaluates this in a fresh runtime before each script, and calls
// the function with host: what the runner knows and does for the script.
(function (host) {
  "use strict";

  class AssertionError extends Error {
    get name() { return "AssertionError"; }
  }

  function assert(ok, message) {
    if (!ok) throw new AssertionError(message);
  }

  function show(v) {
    return typeof v === "string" || (typeof v === "object" && v !== null) ? JSON.stringify(v) : String(v);
  }

  // eql is chai's deep equality for what JSON holds: the same primitive, or
  // objects of the same kind with the same keys and eql values.
  function eql(a, b) {
    if (a === b) return a !== 0 || 1 / a === 1 / b;
    if (a !== a && b !== b) return true; // NaN
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length &&
      keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && eql(a[k], b[k]));
  }

  // sealed makes reading a member that obj (or an object in it) lacks throw,
  // naming the member, where Postman's sandbox would give something: a script
  // using more of it than this fails rather than passes unnoticed.
  function sealed(path, obj) {
    for (const k of Object.keys(obj)) {
      if (typeof obj[k] === "object" && obj[k] !== null) obj[k] = sealed(path + "." + k, obj[k]);
    }
    return new Proxy(obj, {
      get(target, key, receiver) {
        if (typeof key === "string" && !(key in target)) {
          throw new TypeError(`${path}.${key} is not in the runner's sandbox for ${host.listen} scripts`);
        }
        return Reflect.get(target, key, receiver);
      },
    });
  }

  const pm = {
    info: { requestName: host.requestName },
    collectionVariables: { get: host.get, set: host.set },
    execution: { setNextRequest: host.setNextRequest },
    // A test passes unless its function throws, whatever it throws.
    test(name, fn) {
      try {
        fn();
        host.record(name, null);
      } catch (e) {
        host.record(name, String(e));
      }
    },
    expect(actual) {
      return sealed("pm.expect(…)", {
        to: {
          eql(expected) {
            assert(eql(actual, expected), `expected ${show(actual)} to deeply equal ${show(expected)}`);
          },
        },
      });
    },
  };
  if (host.listen === "test") {
    pm.response = {
      code: host.code,
      json() {
        try {
          return JSON.parse(host.body);
        } catch (e) {
          throw new SyntaxError("pm.response.json(): the body is not JSON: " + e.message);
        }
      },
      to: {
        have: {
          status(code) {
            assert(host.code === code, `expected response to have status code ${code} but got ${host.code}`);
          },
        },
      },
    };
  }

  globalThis.pm = sealed("pm", pm);
  globalThis.postman = sealed("postman", { setNextRequest: host.setNextRequest });
  globalThis.setTimeout = host.setTimeout;
});
