//! The runtime driven through OPA's wasm ABI directly, as hosts other than the `opa-wasm` crate
//! drive it — here the way OPA's JavaScript SDK replaces the data of a loaded policy
//! (`setData`): rewind to the heap pointer read before the first data, parse the new data
//! (which lands at the same address), read the heap pointer again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dockgate::build::{BuildOptions, Evaluator, PolicySources, build};
use serde_json::{Value, json};
use wasmtime::{Caller, Engine, Instance, Linker, Memory, MemoryType, Module, Store};

struct Abi {
    store: Store<()>,
    instance: Instance,
    memory: Memory,
}

impl Abi {
    /// `policy` (one module, `m.rego`, no data) built with `evaluator` and loaded.
    fn build(entrypoint: &str, policy: &str, evaluator: Evaluator) -> Self {
        let src = PolicySources::from_memory(vec![("m.rego".into(), policy.into())], json!({}));
        let bundle = build(
            &src,
            &BuildOptions {
                entrypoints: vec![entrypoint.into()],
                evaluator,
                ..Default::default()
            },
        )
        .unwrap();
        Self::load(&bundle.wasm)
    }

    fn load(wasm: &[u8]) -> Self {
        let engine = Engine::default();
        let module = Module::new(&engine, wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let min_pages = module
            .imports()
            .find_map(|i| match i.ty() {
                wasmtime::ExternType::Memory(m) if i.name() == "memory" => Some(m.minimum()),
                _ => None,
            })
            .unwrap();
        let memory = Memory::new(&mut store, MemoryType::new(min_pages as u32, None)).unwrap();
        linker.define(&store, "env", "memory", memory).unwrap();
        linker
            .func_wrap(
                "env",
                "opa_abort",
                |_: Caller<'_, ()>, _: i32| -> wasmtime::Result<()> {
                    Err(wasmtime::Error::msg("opa_abort"))
                },
            )
            .unwrap();
        linker
            .func_wrap("env", "opa_println", |_: Caller<'_, ()>, _: i32| {})
            .unwrap();
        // No builtin is forwarded to the host by these policies.
        linker
            .func_wrap("env", "opa_builtin0", |_: i32, _: i32| -> i32 { 0 })
            .unwrap();
        linker
            .func_wrap("env", "opa_builtin1", |_: i32, _: i32, _: i32| -> i32 { 0 })
            .unwrap();
        linker
            .func_wrap(
                "env",
                "opa_builtin2",
                |_: i32, _: i32, _: i32, _: i32| -> i32 { 0 },
            )
            .unwrap();
        linker
            .func_wrap(
                "env",
                "opa_builtin3",
                |_: i32, _: i32, _: i32, _: i32, _: i32| -> i32 { 0 },
            )
            .unwrap();
        linker
            .func_wrap(
                "env",
                "opa_builtin4",
                |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> i32 { 0 },
            )
            .unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        Abi {
            store,
            instance,
            memory,
        }
    }

    fn call0(&mut self, name: &str) -> i32 {
        let f = self
            .instance
            .get_typed_func::<(), i32>(&mut self.store, name)
            .unwrap();
        f.call(&mut self.store, ()).unwrap()
    }

    fn heap_ptr_get(&mut self) -> i32 {
        self.call0("opa_heap_ptr_get")
    }

    fn heap_ptr_set(&mut self, addr: i32) {
        let f = self
            .instance
            .get_typed_func::<i32, ()>(&mut self.store, "opa_heap_ptr_set")
            .unwrap();
        f.call(&mut self.store, addr).unwrap();
    }

    /// `opa_malloc` + write + `opa_json_parse`, as the SDKs load a JSON document.
    fn load_json(&mut self, v: &Value) -> i32 {
        let text = v.to_string();
        let malloc = self
            .instance
            .get_typed_func::<i32, i32>(&mut self.store, "opa_malloc")
            .unwrap();
        let addr = malloc.call(&mut self.store, text.len() as i32).unwrap();
        self.memory
            .write(&mut self.store, addr as usize, text.as_bytes())
            .unwrap();
        let parse = self
            .instance
            .get_typed_func::<(i32, i32), i32>(&mut self.store, "opa_json_parse")
            .unwrap();
        parse
            .call(&mut self.store, (addr, text.len() as i32))
            .unwrap()
    }

    /// `opa_eval` of entrypoint 0 with `data` (a handle) and `input`, written at `heap`.
    fn eval(&mut self, data: i32, heap: i32, input: &Value) -> Value {
        self.eval_text(data, heap, &input.to_string())
    }

    /// `opa_eval` with the input as JSON text, exactly as given.
    fn eval_text(&mut self, data: i32, heap: i32, text: &str) -> Value {
        self.memory
            .write(&mut self.store, heap as usize, text.as_bytes())
            .unwrap();
        let eval = self
            .instance
            .get_typed_func::<(i32, i32, i32, i32, i32, i32, i32), i32>(&mut self.store, "opa_eval")
            .unwrap();
        let len = text.len() as i32;
        let out = eval
            .call(&mut self.store, (0, 0, data, heap, len, heap + len, 0))
            .unwrap();
        let bytes = &self.memory.data(&self.store)[out as usize..];
        let end = bytes.iter().position(|b| *b == 0).unwrap();
        serde_json::from_slice(&bytes[..end]).unwrap()
    }
}

/// Replacing the data of a loaded module, as OPA's JavaScript SDK does, changes what its rules
/// decide — also the rules that depend on the data alone, whose values the runtime keeps across
/// evaluations on the VM (runtime/src/memo.rs): the new data lands at the old data's address,
/// so the kept values must be dropped with the old data, not matched by its address.
#[test]
fn replacing_the_data_as_the_js_sdk_does_changes_the_verdicts() {
    let policy = "package m\n\nlimit := sum(data.cfg.limits)\n\nr := {\"limit\": limit, \"over\": input.n > limit}\n";
    for evaluator in [Evaluator::Vm, Evaluator::Interpreter] {
        let mut abi = Abi::build("m/r", policy, evaluator);
        let base = abi.heap_ptr_get();

        let data1 = abi.load_json(&json!({"cfg": {"limits": [1, 2]}}));
        let heap1 = abi.heap_ptr_get();
        for n in [2, 5] {
            let got = abi.eval(data1, heap1, &json!({"n": n}));
            assert_eq!(
                got,
                json!([{"result": {"limit": 3, "over": n > 3}}]),
                "{evaluator:?}, first data, n={n}"
            );
        }

        // Replaced twice: the second replacement lands exactly where the first did (the
        // first may reuse a block freed while the module was prepared).
        let mut previous = None;
        for (limits, limit) in [(json!([10, 20]), 30), (json!([100, 200]), 300)] {
            abi.heap_ptr_set(base);
            let data = abi.load_json(&json!({"cfg": {"limits": limits}}));
            if let Some(p) = previous {
                assert_eq!(data, p, "the new data is parsed where the old one was");
            }
            previous = Some(data);
            let heap = abi.heap_ptr_get();
            for n in [5, 40, 400] {
                let got = abi.eval(data, heap, &json!({"n": n}));
                assert_eq!(
                    got,
                    json!([{"result": {"limit": limit, "over": n > limit}}]),
                    "{evaluator:?}, data {limits}, n={n}"
                );
            }
        }
    }
}

/// The input as JSON text, parsed inside the runtime: an object's keys in any order and
/// repeated (the last value wins, as in OPA and serde_json), nested objects too. The runtime
/// builds objects straight into regorus's sorted storage (regorus patch 5), so lookups,
/// iteration order and counts must come out as from a map.
#[test]
fn input_objects_with_unsorted_and_repeated_keys_read_as_maps() {
    let policy = r#"package m

r := {
	"keys": [k | some k, _ in input],
	"b": input.b,
	"count": count(input),
	"nested": [k | some k, _ in input.o],
	"z": input.o.z,
	"in_array": input.arr[0].k,
	"whole": input,
}
"#;
    let text = r#"{"c": 1, "b": "first", "a": [], "o": {"z": 1, "y": 2, "z": 3, "x": {"q": 1, "p": 2}}, "b": "last", "arr": [{"k": 2, "k": 4}, {}], "b": "final"}"#;
    for evaluator in [Evaluator::Vm, Evaluator::Interpreter] {
        let mut abi = Abi::build("m/r", policy, evaluator);
        let data = abi.load_json(&json!({}));
        let heap = abi.heap_ptr_get();
        let got = abi.eval_text(data, heap, text);
        let expected = json!([{"result": {
            "keys": ["a", "arr", "b", "c", "o"],
            "b": "final",
            "count": 5,
            "nested": ["x", "y", "z"],
            "z": 3,
            "in_array": 4,
            "whole": {"a": [], "arr": [{"k": 4}, {}], "b": "final", "c": 1, "o": {"x": {"p": 2, "q": 1}, "y": 2, "z": 3}},
        }}]);
        assert_eq!(got, expected, "{evaluator:?}");
        // Equal to what serde_json makes of the same text (its maps also keep the last).
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(got[0]["result"]["whole"], parsed, "{evaluator:?}");
    }
}

/// Strings compare byte by byte, unsigned, whatever their shared prefix and length (the
/// module's own `memcmp` works eight bytes at a time; regorus's patched `Value` order compares
/// strings inline, and object lookup searches by that order): order, equality, object lookup, set membership and
/// `sort`, against Rust's byte order. Values of different types keep Rego's type order.
#[test]
fn strings_compare_byte_by_byte_and_types_keep_their_order() {
    let policy = r#"package m

words := {w | some w in input.words}

r := {
	"cmp": [[i, j, a < b, a == b] | some i, a in input.words; some j, b in input.words],
	"sorted": sort(input.words),
	"found": [input.obj[w] | some w in input.words],
	"members": [w | some w in input.probe; words[w]],
	"mixed": sort(input.mixed),
}
"#;
    let words = [
        "",
        "a",
        "b",
        "zz",
        "~",
        "\u{7f}",
        "\u{e9}t\u{e9}",
        "abcdefg",
        "abcdefgh",
        "abcdefgi",
        "abcdefgha",
        "abcdefghb",
        "abcdefgh~",
        "abcdefgh\u{e9}",
        "abcdefgh1234567",
        "abcdefgh12345678",
        "abcdefgh12345679",
        "abcdefgh12345678\u{e9}",
        "abcdefgh12345678a",
    ];
    let probe = [
        "abcdefgh12345678",
        "abcdefgh1234567x",
        "abcdefgh\u{e8}",
        "",
        "zz",
        "z",
    ];
    let obj: serde_json::Map<String, Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), json!(i)))
        .collect();
    let mixed = json!([{"a": 1}, [1], "s", 2, true, null, false, 0.5, "", []]);
    let input = json!({"words": words, "obj": obj, "probe": probe, "mixed": mixed});

    let mut cmp = Vec::new();
    for (i, a) in words.iter().enumerate() {
        for (j, b) in words.iter().enumerate() {
            cmp.push(json!([i, j, a.as_bytes() < b.as_bytes(), a == b]));
        }
    }
    let mut sorted = words.to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let members: Vec<&str> = probe
        .iter()
        .copied()
        .filter(|p| words.contains(p))
        .collect();
    let expected = json!([{"result": {
        "cmp": cmp,
        "sorted": sorted,
        "found": (0..words.len()).collect::<Vec<_>>(),
        "members": members,
        "mixed": [null, false, true, 0.5, 2, "", "s", [], [1], {"a": 1}],
    }}]);
    for evaluator in [Evaluator::Vm, Evaluator::Interpreter] {
        let mut abi = Abi::build("m/r", policy, evaluator);
        let data = abi.load_json(&json!({}));
        let heap = abi.heap_ptr_get();
        let got = abi.eval(data, heap, &input);
        assert_eq!(got, expected, "{evaluator:?}");
    }
}
