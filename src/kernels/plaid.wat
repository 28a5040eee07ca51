;; WebAssembly SIMD kernels of PLAID search (loaded by plaid.ts; compiled into plaid.wasm.ts by
;; scripts/build-kernels.mjs). All pointers are byte offsets into the module's memory.
;;
;; - approx: for each candidate document d, approx(d) = sum over query tokens i of the max over
;;   the distinct centroids c of d of T[c, i], T the query's [K, cols] centroid-score table in
;;   int16 fixed point (round(score * scale)). Four i16x8 maxima per centroid row = 32 query
;;   tokens per pass; the lanes are summed in int32 (exact), so the scalar loop over the
;;   rounded scores gives the same integers.
;; - transpose, transpose8: one query's [nq, K] rows of the query-centroid product into T,
;;   rounded to int16 (nearest, ties to even) on the way; cache-blocked one value at a time, or
;;   in 8 x 8 SIMD blocks when K is a multiple of 8.
;; - decompress (nbits 4), decompress2, decompress8: out[t] = (centroid[codes[t]] + bucket
;;   weights of the residual bits) * inv[t], float32 rounding after the add and after the
;;   multiply (as the JavaScript reference). The three share one token loop.
(module
  ;; approx(table, stride, nGroups, codes, docs, nDocs, out): out[d] (i32) for d < nDocs, the
  ;; document's centroids at codes[docs[2d] .. docs[2d] + docs[2d + 1]) (u32 indices into
  ;; table rows of `stride` bytes), nGroups groups of 32 query tokens (64 bytes) per row.
  ;; A document without centroids scores -32768 per token (lanes start at the int16 minimum).
  (func (export "approx")
    (param $table i32) (param $stride i32) (param $nGroups i32) (param $codes i32)
    (param $docs i32) (param $nDocs i32) (param $out i32)
    (local $d i32) (local $tBeg i32) (local $tEnd i32) (local $g i32) (local $t i32)
    (local $groupAt i32) (local $row i32) (local $sum i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $acc v128)
    (block $done
      (loop $documents
        (br_if $done (i32.ge_u (local.get $d) (local.get $nDocs)))
        ;; tBeg = codes + 4 * start(d); tEnd = tBeg + 4 * len(d)
        (local.set $tBeg
          (i32.add (local.get $codes)
            (i32.shl
              (i32.load (i32.add (local.get $docs) (i32.shl (local.get $d) (i32.const 3))))
              (i32.const 2))))
        (local.set $tEnd
          (i32.add (local.get $tBeg)
            (i32.shl
              (i32.load offset=4 (i32.add (local.get $docs) (i32.shl (local.get $d) (i32.const 3))))
              (i32.const 2))))
        (local.set $sum (i32.const 0))
        (local.set $g (i32.const 0))
        (block $groupsDone
          (loop $groups
            (br_if $groupsDone (i32.ge_u (local.get $g) (local.get $nGroups)))
            (local.set $groupAt (i32.add (local.get $table) (i32.shl (local.get $g) (i32.const 6))))
            (local.set $m0 (v128.const i16x8 -32768 -32768 -32768 -32768 -32768 -32768 -32768 -32768))
            (local.set $m1 (local.get $m0))
            (local.set $m2 (local.get $m0))
            (local.set $m3 (local.get $m0))
            (local.set $t (local.get $tBeg))
            (block $centroidsDone
              (loop $centroids
                (br_if $centroidsDone (i32.ge_u (local.get $t) (local.get $tEnd)))
                ;; row = this group's 32 scores of centroid codes[t]
                (local.set $row
                  (i32.add (local.get $groupAt) (i32.mul (i32.load (local.get $t)) (local.get $stride))))
                (local.set $m0 (i16x8.max_s (local.get $m0) (v128.load (local.get $row))))
                (local.set $m1 (i16x8.max_s (local.get $m1) (v128.load offset=16 (local.get $row))))
                (local.set $m2 (i16x8.max_s (local.get $m2) (v128.load offset=32 (local.get $row))))
                (local.set $m3 (i16x8.max_s (local.get $m3) (v128.load offset=48 (local.get $row))))
                (local.set $t (i32.add (local.get $t) (i32.const 4)))
                (br $centroids)))
            ;; acc = the 32 maxima summed pairwise into four int32 lanes
            (local.set $acc
              (i32x4.add
                (i32x4.add
                  (i32x4.extadd_pairwise_i16x8_s (local.get $m0))
                  (i32x4.extadd_pairwise_i16x8_s (local.get $m1)))
                (i32x4.add
                  (i32x4.extadd_pairwise_i16x8_s (local.get $m2))
                  (i32x4.extadd_pairwise_i16x8_s (local.get $m3)))))
            (local.set $sum
              (i32.add
                (i32.add
                  (i32.add
                    (i32.add (local.get $sum) (i32x4.extract_lane 0 (local.get $acc)))
                    (i32x4.extract_lane 1 (local.get $acc)))
                  (i32x4.extract_lane 2 (local.get $acc)))
                (i32x4.extract_lane 3 (local.get $acc))))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (br $groups)))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $d) (i32.const 2))) (local.get $sum))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br $documents))))

  ;; decompress(codes, res, inv, n, cent, planes, out, dimBytes, resBytes): nbits 4, sixteen
  ;; dimensions (eight residual bytes) per step. The 16 bucket weights are looked up with
  ;; i8x16.swizzle, one byte of their float32 bits at a time (planes: byte k of weight b at
  ;; planes[16k + b]), and the four byte vectors are interleaved back into floats: about half
  ;; the instructions of a per-byte table lookup.
  (func (export "decompress")
    (param $codes i32) (param $res i32) (param $inv i32) (param $n i32) (param $cent i32)
    (param $planes i32) (param $out i32) (param $dimBytes i32) (param $resBytes i32)
    (local $t i32) (local $cp i32) (local $rp i32) (local $op i32) (local $rEnd i32)
    (local $w v128)
    (local $plane0 v128) (local $plane1 v128) (local $plane2 v128) (local $plane3 v128)
    (local $nibbles v128)
    (local $byte0 v128) (local $byte1 v128) (local $byte2 v128) (local $byte3 v128)
    (local $lo01 v128) (local $hi01 v128) (local $lo23 v128) (local $hi23 v128)
    (local.set $rp (local.get $res))
    (local.set $op (local.get $out))
    (local.set $plane0 (v128.load (local.get $planes)))
    (local.set $plane1 (v128.load offset=16 (local.get $planes)))
    (local.set $plane2 (v128.load offset=32 (local.get $planes)))
    (local.set $plane3 (v128.load offset=48 (local.get $planes)))
    (block $done
      (loop $tokens
        (br_if $done (i32.ge_u (local.get $t) (local.get $n)))
        ;; cp = the token's centroid row; w = its inverse norm in every lane; rEnd = the end
        ;; of its residual bytes
        (local.set $cp
          (i32.add (local.get $cent)
            (i32.mul
              (i32.load (i32.add (local.get $codes) (i32.shl (local.get $t) (i32.const 2))))
              (local.get $dimBytes))))
        (local.set $w
          (f32x4.splat (f32.load (i32.add (local.get $inv) (i32.shl (local.get $t) (i32.const 2))))))
        (local.set $rEnd (i32.add (local.get $rp) (local.get $resBytes)))
        (block $bytesDone
          (loop $bytes
            (br_if $bytesDone (i32.ge_u (local.get $rp) (local.get $rEnd)))
            ;; the 16 nibbles of eight bytes in dimension order (a byte's high nibble first)
            (local.set $nibbles (v128.load64_zero (local.get $rp)))
            (local.set $nibbles
              (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
                (i8x16.shr_u (local.get $nibbles) (i32.const 4))
                (v128.and (local.get $nibbles) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))))
            ;; byte k of each of the 16 dimensions' weights
            (local.set $byte0 (i8x16.swizzle (local.get $plane0) (local.get $nibbles)))
            (local.set $byte1 (i8x16.swizzle (local.get $plane1) (local.get $nibbles)))
            (local.set $byte2 (i8x16.swizzle (local.get $plane2) (local.get $nibbles)))
            (local.set $byte3 (i8x16.swizzle (local.get $plane3) (local.get $nibbles)))
            ;; bytes 0-1 of dimensions 0-7 (lo01) and 8-15 (hi01); bytes 2-3 likewise
            (local.set $lo01
              (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $byte0) (local.get $byte1)))
            (local.set $hi01
              (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $byte0) (local.get $byte1)))
            (local.set $lo23
              (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $byte2) (local.get $byte3)))
            (local.set $hi23
              (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $byte2) (local.get $byte3)))
            ;; out[4j .. 4j + 3] = (centroid[4j .. 4j + 3] + weights of dimensions 4j .. 4j + 3) * w
            (v128.store (local.get $op)
              (f32x4.mul
                (f32x4.add (v128.load (local.get $cp))
                  (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $lo01) (local.get $lo23)))
                (local.get $w)))
            (v128.store offset=16 (local.get $op)
              (f32x4.mul
                (f32x4.add (v128.load offset=16 (local.get $cp))
                  (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $lo01) (local.get $lo23)))
                (local.get $w)))
            (v128.store offset=32 (local.get $op)
              (f32x4.mul
                (f32x4.add (v128.load offset=32 (local.get $cp))
                  (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $hi01) (local.get $hi23)))
                (local.get $w)))
            (v128.store offset=48 (local.get $op)
              (f32x4.mul
                (f32x4.add (v128.load offset=48 (local.get $cp))
                  (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $hi01) (local.get $hi23)))
                (local.get $w)))
            (local.set $rp (i32.add (local.get $rp) (i32.const 8)))
            (local.set $cp (i32.add (local.get $cp) (i32.const 64)))
            (local.set $op (i32.add (local.get $op) (i32.const 64)))
            (br $bytes)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tokens))))

  ;; transpose(src, K, nq, dst, cols, scale): dst[c * cols + i] (i16) = round(src[i * K + c] *
  ;; scale) (f32 product, nearest, ties to even; saturating), in blocks of 256 centroids: a
  ;; block of dst stays in cache while every row of src passes over it.
  (func (export "transpose")
    (param $src i32) (param $K i32) (param $nq i32) (param $dst i32) (param $cols i32) (param $scale f32)
    (local $i i32) (local $c i32) (local $s i32) (local $d i32) (local $dstride i32)
    (local $c0 i32) (local $c1 i32)
    (local.set $dstride (i32.shl (local.get $cols) (i32.const 1)))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $c0) (local.get $K)))
        ;; c1 = min(c0 + 256, K)
        (local.set $c1
          (select
            (i32.add (local.get $c0) (i32.const 256))
            (local.get $K)
            (i32.lt_u (i32.add (local.get $c0) (i32.const 256)) (local.get $K))))
        (local.set $i (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $nq)))
            (local.set $s
              (i32.add (local.get $src)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $K)) (local.get $c0)) (i32.const 2))))
            (local.set $d
              (i32.add (local.get $dst)
                (i32.shl (i32.add (i32.mul (local.get $c0) (local.get $cols)) (local.get $i)) (i32.const 1))))
            (local.set $c (local.get $c0))
            (block $blockDone
              (loop $centroids
                (br_if $blockDone (i32.ge_u (local.get $c) (local.get $c1)))
                (i32.store16 (local.get $d)
                  (i32.trunc_sat_f32_s (f32.nearest (f32.mul (f32.load (local.get $s)) (local.get $scale)))))
                (local.set $s (i32.add (local.get $s) (i32.const 4)))
                (local.set $d (i32.add (local.get $d) (local.get $dstride)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $centroids)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $rows)))
        (local.set $c0 (local.get $c1))
        (br $blocks))))

  ;; transpose8(src, K, nq8, dst, cols, scale): as transpose for nq8 (a multiple of 8) tokens
  ;; and K a multiple of 8, one 8 x 8 block per step: eight rows of 8 floats are scaled,
  ;; rounded and narrowed to 8 int16 lanes each (r0..r7), then transposed in three rounds of
  ;; interleaves (16-, 32-, then 64-bit) so that each of the block's 8 centroids gets its 8
  ;; tokens in one 16-byte store.
  (func (export "transpose8")
    (param $src i32) (param $K i32) (param $nq8 i32) (param $dst i32) (param $cols i32) (param $scale f32)
    (local $i i32) (local $c i32) (local $s i32) (local $d i32) (local $srcStride i32) (local $dstride i32)
    (local $scales v128)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $r4 v128) (local $r5 v128) (local $r6 v128) (local $r7 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local $u4 v128) (local $u5 v128) (local $u6 v128) (local $u7 v128)
    (local.set $scales (f32x4.splat (local.get $scale)))
    (local.set $srcStride (i32.shl (local.get $K) (i32.const 2)))
    (local.set $dstride (i32.shl (local.get $cols) (i32.const 1)))
    (block $done
      (loop $tokenBlocks
        (br_if $done (i32.ge_u (local.get $i) (local.get $nq8)))
        (local.set $c (i32.const 0))
        (block $centroidsDone
          (loop $centroidBlocks
            (br_if $centroidsDone (i32.ge_u (local.get $c) (local.get $K)))
            (local.set $s
              (i32.add (local.get $src)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $K)) (local.get $c)) (i32.const 2))))
            (local.set $d
              (i32.add (local.get $dst)
                (i32.shl (i32.add (i32.mul (local.get $c) (local.get $cols)) (local.get $i)) (i32.const 1))))
            ;; r_k = token i + k's scores of centroids c .. c + 7, rounded to int16
            (local.set $r0
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            (local.set $r1
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            (local.set $r2
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            (local.set $r3
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            (local.set $r4
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            (local.set $r5
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            (local.set $r6
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            (local.set $r7
              (i16x8.narrow_i32x4_s
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $s)) (local.get $scales))))
                (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $scales))))))
            (local.set $s (i32.add (local.get $s) (local.get $srcStride)))
            ;; round 1: 16-bit interleaves of row pairs
            (local.set $u0 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $r0) (local.get $r1)))
            (local.set $u1 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $r0) (local.get $r1)))
            (local.set $u2 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $r2) (local.get $r3)))
            (local.set $u3 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $r2) (local.get $r3)))
            (local.set $u4 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $r4) (local.get $r5)))
            (local.set $u5 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $r4) (local.get $r5)))
            (local.set $u6 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $r6) (local.get $r7)))
            (local.set $u7 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $r6) (local.get $r7)))
            ;; round 2: 32-bit interleaves
            (local.set $r0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $u0) (local.get $u2)))
            (local.set $r1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $u0) (local.get $u2)))
            (local.set $r2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $u1) (local.get $u3)))
            (local.set $r3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $u1) (local.get $u3)))
            (local.set $r4 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $u4) (local.get $u6)))
            (local.set $r5 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $u4) (local.get $u6)))
            (local.set $r6 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $u5) (local.get $u7)))
            (local.set $r7 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $u5) (local.get $u7)))
            ;; round 3: 64-bit interleaves = centroid c + j's 8 tokens; one row of dst each
            (v128.store (local.get $d)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $r0) (local.get $r4)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (v128.store (local.get $d)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $r0) (local.get $r4)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (v128.store (local.get $d)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $r1) (local.get $r5)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (v128.store (local.get $d)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $r1) (local.get $r5)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (v128.store (local.get $d)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $r2) (local.get $r6)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (v128.store (local.get $d)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $r2) (local.get $r6)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (v128.store (local.get $d)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $r3) (local.get $r7)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (v128.store (local.get $d)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $r3) (local.get $r7)))
            (local.set $d (i32.add (local.get $d) (local.get $dstride)))
            (local.set $c (i32.add (local.get $c) (i32.const 8)))
            (br $centroidBlocks)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $tokenBlocks))))

  ;; decompress2(codes, res, inv, n, cent, table, out, dimBytes, resBytes): nbits 2, one
  ;; residual byte = four dimensions, whose four weights are one 16-byte entry of table[256][4].
  (func (export "decompress2")
    (param $codes i32) (param $res i32) (param $inv i32) (param $n i32) (param $cent i32)
    (param $table i32) (param $out i32) (param $dimBytes i32) (param $resBytes i32)
    (local $t i32) (local $cp i32) (local $rp i32) (local $op i32) (local $rEnd i32)
    (local $w v128)
    (local.set $rp (local.get $res))
    (local.set $op (local.get $out))
    (block $done
      (loop $tokens
        (br_if $done (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $cp
          (i32.add (local.get $cent)
            (i32.mul
              (i32.load (i32.add (local.get $codes) (i32.shl (local.get $t) (i32.const 2))))
              (local.get $dimBytes))))
        (local.set $w
          (f32x4.splat (f32.load (i32.add (local.get $inv) (i32.shl (local.get $t) (i32.const 2))))))
        (local.set $rEnd (i32.add (local.get $rp) (local.get $resBytes)))
        (block $bytesDone
          (loop $bytes
            (br_if $bytesDone (i32.ge_u (local.get $rp) (local.get $rEnd)))
            ;; out[0 .. 3] = (centroid[0 .. 3] + table[res[rp]]) * w
            (v128.store (local.get $op)
              (f32x4.mul
                (f32x4.add
                  (v128.load (local.get $cp))
                  (v128.load
                    (i32.add (local.get $table) (i32.shl (i32.load8_u (local.get $rp)) (i32.const 4)))))
                (local.get $w)))
            (local.set $rp (i32.add (local.get $rp) (i32.const 1)))
            (local.set $cp (i32.add (local.get $cp) (i32.const 16)))
            (local.set $op (i32.add (local.get $op) (i32.const 16)))
            (br $bytes)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tokens))))

  ;; decompress8(codes, res, inv, n, cent, table, out, dimBytes, resBytes): nbits 8, one
  ;; residual byte per dimension, four dimensions per step gathered from table[256] into one
  ;; f32x4.
  (func (export "decompress8")
    (param $codes i32) (param $res i32) (param $inv i32) (param $n i32) (param $cent i32)
    (param $table i32) (param $out i32) (param $dimBytes i32) (param $resBytes i32)
    (local $t i32) (local $cp i32) (local $rp i32) (local $op i32) (local $rEnd i32)
    (local $w v128) (local $weights v128)
    (local.set $rp (local.get $res))
    (local.set $op (local.get $out))
    (block $done
      (loop $tokens
        (br_if $done (i32.ge_u (local.get $t) (local.get $n)))
        (local.set $cp
          (i32.add (local.get $cent)
            (i32.mul
              (i32.load (i32.add (local.get $codes) (i32.shl (local.get $t) (i32.const 2))))
              (local.get $dimBytes))))
        (local.set $w
          (f32x4.splat (f32.load (i32.add (local.get $inv) (i32.shl (local.get $t) (i32.const 2))))))
        (local.set $rEnd (i32.add (local.get $rp) (local.get $resBytes)))
        (block $bytesDone
          (loop $bytes
            (br_if $bytesDone (i32.ge_u (local.get $rp) (local.get $rEnd)))
            ;; weights = table[res[rp + k]] in lane k
            (local.set $weights
              (v128.load32_zero
                (i32.add (local.get $table) (i32.shl (i32.load8_u (local.get $rp)) (i32.const 2)))))
            (local.set $weights
              (v128.load32_lane 1
                (i32.add (local.get $table) (i32.shl (i32.load8_u offset=1 (local.get $rp)) (i32.const 2)))
                (local.get $weights)))
            (local.set $weights
              (v128.load32_lane 2
                (i32.add (local.get $table) (i32.shl (i32.load8_u offset=2 (local.get $rp)) (i32.const 2)))
                (local.get $weights)))
            (local.set $weights
              (v128.load32_lane 3
                (i32.add (local.get $table) (i32.shl (i32.load8_u offset=3 (local.get $rp)) (i32.const 2)))
                (local.get $weights)))
            (v128.store (local.get $op)
              (f32x4.mul (f32x4.add (v128.load (local.get $cp)) (local.get $weights)) (local.get $w)))
            (local.set $rp (i32.add (local.get $rp) (i32.const 4)))
            (local.set $cp (i32.add (local.get $cp) (i32.const 16)))
            (local.set $op (i32.add (local.get $op) (i32.const 16)))
            (br $bytes)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tokens))))

  ;; One page to start; the loaders grow it to fit their inputs.
  (memory (export "memory") 1))
