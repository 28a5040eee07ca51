;; The AdamW update of one chunk of a tensor on f32x4 lanes (loaded by adamw.ts; compiled into
;; adamw.wasm.ts by scripts/build-kernels.mjs), in float32 as torch computes it:
;;
;;   m <- b1 * m + c1 * g;  v <- b2 * v + c2 * g * g      (c1 = 1 - b1, c2 = 1 - b2)
;;   x <- x * decay - stepSize * m / (sqrt(v) / bc2Sqrt + eps)
;;
;; adamw(x, g, m, v, n, b1, c1, b2, c2, decay, stepSize, bc2Sqrt, eps): x, g, m, v are byte
;; offsets of four arrays of n floats (n a multiple of 4), updated in place.
(module
  (func (export "adamw")
    (param $x i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $decay f32) (param $stepSize f32) (param $bc2Sqrt f32) (param $eps f32)
    (local $i i32)
    ;; the constants in every lane
    (local $B1 v128) (local $C1 v128) (local $B2 v128) (local $C2 v128)
    (local $DECAY v128) (local $STEP v128) (local $BC2 v128) (local $EPS v128)
    ;; the current four elements of g and the new m, v
    (local $G v128) (local $M v128) (local $V v128)
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $C1 (f32x4.splat (local.get $c1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $DECAY (f32x4.splat (local.get $decay)))
    (local.set $STEP (f32x4.splat (local.get $stepSize)))
    (local.set $BC2 (f32x4.splat (local.get $bc2Sqrt)))
    (local.set $EPS (f32x4.splat (local.get $eps)))
    (local.set $n (i32.shl (local.get $n) (i32.const 2))) ;; elements -> bytes
    (block $done
      (loop $elements
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $G (v128.load (i32.add (local.get $g) (local.get $i))))
        ;; m[i] = M = B1 * m[i] + C1 * G
        (v128.store (i32.add (local.get $m) (local.get $i))
          (local.tee $M
            (f32x4.add
              (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $i))))
              (f32x4.mul (local.get $C1) (local.get $G)))))
        ;; v[i] = V = B2 * v[i] + C2 * G * G
        (v128.store (i32.add (local.get $v) (local.get $i))
          (local.tee $V
            (f32x4.add
              (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $i))))
              (f32x4.mul (f32x4.mul (local.get $C2) (local.get $G)) (local.get $G)))))
        ;; x[i] = x[i] * DECAY - STEP * M / (sqrt(V) / BC2 + EPS)
        (v128.store (i32.add (local.get $x) (local.get $i))
          (f32x4.sub
            (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $i))) (local.get $DECAY))
            (f32x4.div
              (f32x4.mul (local.get $STEP) (local.get $M))
              (f32x4.add (f32x4.div (f32x4.sqrt (local.get $V)) (local.get $BC2)) (local.get $EPS)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $elements))))

  ;; 16 pages = 1 MiB: the loader's four chunks of 64 Ki floats (they stay in L2).
  (memory (export "memory") 16))
