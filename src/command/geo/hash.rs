//! The geohash arithmetic of redis-server's GEO commands: a position is stored as the score of
//! a sorted-set member, the 52-bit interleaving of its latitude and longitude cells at 26 bits
//! each (latitude within ±85.05112878, the Web Mercator limit), and decoded to the centre of
//! its cell. Distances are haversine on redis-server's sphere, so both servers print the same
//! digits, and a search picks its cells (step, neighbours, the ones it leaves out) by the same
//! rules, so both list the same members in the same order.

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

    /// Half the shape's extent in latitude and in longitude, in metres.
    fn half_extent(self) -> (f64, f64) {
        match self {
            Shape::Radius(r) => (r, r),
            Shape::Box { width, height } => (height / 2.0, width / 2.0),
        }
    }

    /// The distance from the centre that the cell size is chosen for: the radius, or the
    /// half-diagonal of the box.
    fn reach(self) -> f64 {
        match self {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => ((width / 2.0).powi(2) + (height / 2.0).powi(2)).sqrt(),
        }
    }
}

/// A geohash cell: its bits at `step` bits a coordinate.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Cell {
    bits: u64,
    step: u32,
}

impl Cell {
    fn of(lon: f64, lat: f64, step: u32) -> Cell {
        let cells = (1u64 << step) as f64;
        let lat_cell = ((lat - LAT_MIN) / (LAT_MAX - LAT_MIN) * cells) as u32;
        let lon_cell = ((lon - LON_MIN) / (LON_MAX - LON_MIN) * cells) as u32;
        Cell {
            bits: spread(lat_cell) | (spread(lon_cell) << 1),
            step,
        }
    }

    /// The neighbour `dx` cells east and `dy` cells north, wrapping around the edges.
    fn moved(self, dx: i8, dy: i8) -> Cell {
        let width = 64 - self.step * 2;
        let step_one = |bits: u64, mask: u64, ones: u64, d: i8| -> u64 {
            let v = bits & mask;
            let v = match d.cmp(&0) {
                std::cmp::Ordering::Equal => return v,
                std::cmp::Ordering::Greater => v.wrapping_add(ones + 1),
                std::cmp::Ordering::Less => (v | ones).wrapping_sub(ones + 1),
            };
            v & (mask >> width)
        };
        const LON_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;
        const LAT_BITS: u64 = 0x5555_5555_5555_5555;
        let lon = step_one(self.bits, LON_BITS, LAT_BITS >> width, dx);
        let lat = step_one(self.bits, LAT_BITS, LON_BITS >> width, dy);
        Cell {
            bits: lon | lat,
            step: self.step,
        }
    }

    fn bounds(self) -> (f64, f64, f64, f64) {
        cell(self.bits, self.step)
    }

    /// The scores of the cell: `[min, max)`.
    fn scores(self) -> (u64, u64) {
        let shift = 52 - self.step * 2;
        (self.bits << shift, (self.bits + 1) << shift)
    }
}

/// The step whose cells suit a search of `range_m` metres around latitude `lat`, as
/// redis-server estimates it (coarser towards the poles).
fn step_for(mut range_m: f64, lat: f64) -> u32 {
    const MERCATOR_MAX: f64 = 20_037_726.37;
    if range_m == 0.0 {
        return STEP;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if lat.abs() > 66.0 {
        step -= 1;
        if lat.abs() > 80.0 {
            step -= 1;
        }
    }
    step.clamp(1, STEP as i32) as u32
}

/// The score ranges a search scans, in the order redis-server scans them: the centre's cell,
/// then its neighbours north, south, east, west, north-east, north-west, south-east and
/// south-west, at the step the shape's size calls for (one coarser when a neighbour would
/// not reach the shape's bounding box), leaving out neighbours beyond the box and a range
/// equal to the one scanned just before it. Scanning the same cells in the same order gives
/// the same members in the same order.
pub fn search_ranges(centre: (f64, f64), shape: Shape) -> Vec<(u64, u64)> {
    let (lon, lat) = centre;
    let (half_lat, half_lon) = shape.half_extent();
    let lat_delta = (half_lat / EARTH_RADIUS_M).to_degrees();
    let lon_top = (half_lon / EARTH_RADIUS_M / rad(lat + lat_delta).cos()).to_degrees();
    let lon_bottom = (half_lon / EARTH_RADIUS_M / rad(lat - lat_delta).cos()).to_degrees();
    let lon_delta = if lat < 0.0 { lon_bottom } else { lon_top };
    let (min_lon, max_lon) = (lon - lon_delta, lon + lon_delta);
    let (min_lat, max_lat) = (lat - lat_delta, lat + lat_delta);
    let neighbours = |c: Cell| {
        [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)].map(|(dx, dy)| c.moved(dx, dy))
    };
    let mut step = step_for(shape.reach(), lat);
    let mut centre_cell = Cell::of(lon, lat, step);
    let [north, south, east, west, ..] = neighbours(centre_cell).map(Cell::bounds);
    let short = north.3 < max_lat || south.2 > min_lat || east.1 < max_lon || west.0 > min_lon;
    if step > 1 && short {
        step -= 1;
        centre_cell = Cell::of(lon, lat, step);
    }
    let mut cells: Vec<Option<Cell>> = std::iter::once(centre_cell)
        .chain(neighbours(centre_cell))
        .map(Some)
        .collect();
    if step >= 2 {
        let (a_lon_min, a_lon_max, a_lat_min, a_lat_max) = centre_cell.bounds();
        // Indexes: 1 N, 2 S, 3 E, 4 W, 5 NE, 6 NW, 7 SE, 8 SW.
        let mut drop = |idx: [usize; 3]| idx.iter().for_each(|&i| cells[i] = None);
        if a_lat_min < min_lat {
            drop([2, 8, 7]);
        }
        if a_lat_max > max_lat {
            drop([1, 5, 6]);
        }
        if a_lon_min < min_lon {
            drop([4, 8, 6]);
        }
        if a_lon_max > max_lon {
            drop([3, 7, 5]);
        }
    }
    // A neighbour equal to the one scanned before it is skipped, but not one equal to the
    // centre's cell when that came just before (redis-server compares with the last
    // neighbour only), so a huge shape may scan the centre twice, as there.
    let mut ranges = Vec::new();
    let mut last: Option<(usize, Cell)> = None;
    for (i, c) in cells.into_iter().enumerate() {
        let Some(c) = c else { continue };
        if matches!(last, Some((j, prev)) if j > 0 && prev == c) {
            continue;
        }
        ranges.push(c.scores());
        last = Some((i, c));
    }
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
        let ranges = search_ranges(centre, Shape::Radius(200_000.0));
        for i in 0..400 {
            let (lon, lat) = (15.0 + (i % 20) as f64 * 0.2 - 2.0, 37.0 + (i / 20) as f64 * 0.2 - 2.0);
            let score = encode(lon, lat);
            if Shape::Radius(200_000.0).hit(centre, decode(score as f64)).is_some() {
                assert!(ranges.iter().any(|(a, b)| (*a..*b).contains(&score)), "{lon},{lat}");
            }
        }
    }
}
