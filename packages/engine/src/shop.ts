import { native } from './native.js';

/** The load generator's synthetic shop, in Rust (crates/pulse-shop); packages/loadgen wraps it. */
export const NativeShopModel = native.ShopModel;
export type NativeShopModel = InstanceType<typeof native.ShopModel>;
export type { PackedShopRecords, RawShopOptions, ShopEvent } from '@pulse/native';
