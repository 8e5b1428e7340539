//! The geohash arithmetic of redis-server's GEO commands: a position is stored as the score of
//! a sorted-set member, the 52-bit interleaving of its latitude and longitude cells at 26 bits
//! each (latitude within ±85.05112878, the Web Mercator limit), and decoded to the centre of
//! its cell. Distances are haversine on redis-server's sphere, so both servers print the same
//! digits.

pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
const STEP: u32 = 26;
const EARTH_RADIUS_M: f64 = 6_372_797.560_856;

/// Spreads the low 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bit positions of `v` into 32 bits.
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0xFFFF_FFFF) as u32
}

/// The cell bits of a position within ranges, latitude on the even bits.
fn encode_in(lon: f64, lat: f64, (lon_min, lon_max): (f64, f64), (lat_min, lat_max): (f64, f64)) -> u64 {
    let cells = (1u64 << STEP) as f64;
    let lat_cell = ((lat - lat_min) / (lat_max - lat_min) * cells) as u32;
    let lon_cell = ((lon - lon_min) / (lon_max - lon_min) * cells) as u32;
    spread(lat_cell) | (spread(lon_cell) << 1)
}

/// Whether redis-server accepts a position (GEOADD's check).
pub fn valid(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// The score GEOADD stores for a valid position.
pub fn encode(lon: f64, lat: f64) -> u64 {
    encode_in(lon, lat, (LON_MIN, LON_MAX), (LAT_MIN, LAT_MAX))
}

/// The cell of `bits` as (lon min, lon max, lat min, lat max), at `step` bits a coordinate.
pub fn cell(bits: u64, step: u32) -> (f64, f64, f64, f64) {
    let (lat_cell, lon_cell) = (squash(bits), squash(bits >> 1));
    let cells = (1u64 << step) as f64;
    let lat = |c: f64| LAT_MIN + c / cells * (LAT_MAX - LAT_MIN);
    let lon = |c: f64| LON_MIN + c / cells * (LON_MAX - LON_MIN);
    (
        lon(f64::from(lon_cell)),
        lon(f64::from(lon_cell) + 1.0),
        lat(f64::from(lat_cell)),
        lat(f64::from(lat_cell) + 1.0),
    )
}

/// The position a score stands for: the centre of its cell, kept within the limits.
pub fn decode(score: f64) -> (f64, f64) {
    let (lon_min, lon_max, lat_min, lat_max) = cell(score as u64, STEP);
    (
        ((lon_min + lon_max) / 2.0).clamp(LON_MIN, LON_MAX),
        ((lat_min + lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX),
    )
}

/// The standard 11-character geohash of a stored position (re-encoded over ±90 latitude;
/// the last character stands for bits that are not kept, as redis-server prints it).
pub fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode(score);
    let bits = encode_in(lon, lat, (-180.0, 180.0), (-90.0, 90.0));
    (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            ALPHABET[idx as usize] as char
        })
        .collect()
}

fn rad(deg: f64) -> f64 {
    deg * (std::f64::consts::PI / 180.0)
}

/// The distance in metres along a meridian between two latitudes.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (rad(lat2) - rad(lat1)).abs()
}

/// Haversine distance in metres.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lon1r, lat2r, lon2r) = (rad(lat1), rad(lon1), rad(lat2), rad(lon2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// A coordinate as redis-server prints one: 17 decimals, trailing zeros dropped.
pub fn human(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" { "0".to_string() } else { s }
}

/// The search shapes of GEOSEARCH / GEORADIUS, in metres.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

impl Shape {
    /// The distance from the centre to a point inside the shape, or `None` outside.
    pub fn hit(self, (clon, clat): (f64, f64), (lon, lat): (f64, f64)) -> Option<f64> {
        match self {
            Shape::Radius(r) => Some(distance(clon, clat, lon, lat)).filter(|d| *d <= r),
            Shape::Box { width, height } => {
                if lat_distance(lat, clat) > height / 2.0 || distance(lon, lat, clon, lat) > width / 2.0 {
                    return None;
                }
                Some(distance(clon, clat, lon, lat))
            }
        }
    }

    /// Half the extent in latitude and in longitude, in metres, that covers the shape.
    fn reach(self) -> (f64, f64) {
        match self {
            Shape::Radius(r) => (r, r),
            Shape::Box { width, height } => (height / 2.0, width / 2.0),
        }
    }
}

/// Score ranges `[min, max)` of cells that together cover every stored position the shape
/// around `centre` may hit: the cells, at the finest step whose cell is at least the shape's
/// extent, that meet the shape's bounding box (split at the antimeridian).
pub fn covering_ranges(centre: (f64, f64), shape: Shape) -> Vec<(u64, u64)> {
    let (clon, clat) = centre;
    let (lat_reach, lon_reach) = shape.reach();
    let dlat = (lat_reach / EARTH_RADIUS_M).to_degrees();
    let lat_lo = (clat - dlat).max(LAT_MIN);
    let lat_hi = (clat + dlat).min(LAT_MAX);
    // The widest parallel the box reaches sets its span in longitude.
    let widest = clat.abs().max(lat_lo.abs()).max(lat_hi.abs()).min(89.0);
    let dlon = (lon_reach / (EARTH_RADIUS_M * rad(widest).cos())).to_degrees();
    let (lon_lo, lon_hi) = (clon - dlon, clon + dlon);
    // Boxes along longitude, split where they cross ±180.
    let mut lon_spans = Vec::new();
    if dlon >= 180.0 {
        lon_spans.push((LON_MIN, LON_MAX));
    } else {
        if lon_lo < LON_MIN {
            lon_spans.push((lon_lo + 360.0, LON_MAX));
        }
        if lon_hi > LON_MAX {
            lon_spans.push((LON_MIN, lon_hi - 360.0));
        }
        lon_spans.push((lon_lo.max(LON_MIN), lon_hi.min(LON_MAX)));
    }
    // The finest step whose cells are at least as tall and wide as the box.
    let lat_cell = |step: u32| (LAT_MAX - LAT_MIN) / (1u64 << step) as f64;
    let lon_cell = |step: u32| 360.0 / (1u64 << step) as f64;
    let mut step = STEP;
    while step > 1 && (lat_cell(step) < lat_hi - lat_lo || lon_cell(step) < 2.0 * dlon.min(180.0)) {
        step -= 1;
    }
    let cells = 1u64 << step;
    let index = |v: f64, min: f64, span: f64| (((v - min) / span * cells as f64) as u64).min(cells - 1);
    let (lat_a, lat_b) = (
        index(lat_lo, LAT_MIN, LAT_MAX - LAT_MIN),
        index(lat_hi, LAT_MIN, LAT_MAX - LAT_MIN),
    );
    let shift = 2 * (STEP - step);
    let mut ranges = Vec::new();
    for (lo, hi) in lon_spans {
        let (lon_a, lon_b) = (index(lo, LON_MIN, 360.0), index(hi, LON_MIN, 360.0));
        for lat_i in lat_a..=lat_b {
            for lon_i in lon_a..=lon_b {
                let bits = spread(lat_i as u32) | (spread(lon_i as u32) << 1);
                ranges.push((bits << shift, (bits + 1) << shift));
            }
        }
    }
    ranges.sort_unstable();
    ranges.dedup();
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_to_their_cell_centre() {
        // redis-server's GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698.
        assert_eq!(encode(13.361389, 38.115556), 3_479_099_956_230_698);
        let (lon, lat) = decode(3_479_099_956_230_698.0);
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
        assert_eq!(geohash_string(3_479_099_956_230_698.0), "sqc8b49rny0");
        let catania = encode(15.087269, 37.502669) as f64;
        let (lon2, lat2) = decode(catania);
        assert_eq!(format!("{:.4}", distance(lon, lat, lon2, lat2)), "166274.1516");
    }

    #[test]
    fn covering_cells_hold_every_point_in_the_shape() {
        let centre = (15.0, 37.0);
        let ranges = covering_ranges(centre, Shape::Radius(200_000.0));
        for i in 0..400 {
            let (lon, lat) = (15.0 + (i % 20) as f64 * 0.2 - 2.0, 37.0 + (i / 20) as f64 * 0.2 - 2.0);
            let score = encode(lon, lat);
            if Shape::Radius(200_000.0).hit(centre, decode(score as f64)).is_some() {
                assert!(ranges.iter().any(|(a, b)| (*a..*b).contains(&score)), "{lon},{lat}");
            }
        }
    }
}
