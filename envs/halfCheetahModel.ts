/**
 * MJCF of the standard planar half-cheetah, written from the numbers in REFERENCE §1.
 *
 * 9 generalized coordinates: rootx (slide), rootz (slide), rooty (hinge), then the six leg hinges
 * bthigh, bshin, bfoot, fthigh, fshin, ffoot; one motor per leg hinge (ctrl in [-1, 1], scaled by
 * its gear). Masses come from the geoms and are rescaled so that the whole body weighs 14.
 *
 * Angles are in radians and every position is relative to the parent body.
 */

/** One leg segment: a body hinged about y, its capsule, and the motor that drives the hinge. */
interface Limb {
  name: string;
  bodyPos: [number, number, number];
  range: [number, number];
  stiffness: number;
  damping: number;
  geomPos: [number, number, number];
  /** Rotation of the capsule about the y axis (radians). */
  geomAngle: number;
  halfLength: number;
  gear: number;
}

/** Limbs in tree order: back leg (thigh → shin → foot), then front leg. */
export const HALF_CHEETAH_LIMBS: readonly Limb[] = [
  { name: 'bthigh', bodyPos: [-0.5, 0, 0], range: [-0.52, 1.05], stiffness: 240, damping: 6, geomPos: [0.1, 0, -0.13], geomAngle: -3.8, halfLength: 0.145, gear: 120 },
  { name: 'bshin', bodyPos: [0.16, 0, -0.25], range: [-0.785, 0.785], stiffness: 180, damping: 4.5, geomPos: [-0.14, 0, -0.07], geomAngle: -2.03, halfLength: 0.15, gear: 90 },
  { name: 'bfoot', bodyPos: [-0.28, 0, -0.14], range: [-0.4, 0.785], stiffness: 120, damping: 3, geomPos: [0.03, 0, -0.097], geomAngle: -0.27, halfLength: 0.094, gear: 60 },
  { name: 'fthigh', bodyPos: [0.5, 0, 0], range: [-1, 0.7], stiffness: 180, damping: 4.5, geomPos: [-0.07, 0, -0.12], geomAngle: 0.52, halfLength: 0.133, gear: 120 },
  { name: 'fshin', bodyPos: [-0.14, 0, -0.24], range: [-1.2, 0.87], stiffness: 120, damping: 3, geomPos: [0.065, 0, -0.09], geomAngle: -0.6, halfLength: 0.106, gear: 60 },
  { name: 'ffoot', bodyPos: [0.13, 0, -0.18], range: [-0.5, 0.5], stiffness: 60, damping: 1.5, geomPos: [0.045, 0, -0.07], geomAngle: -0.6, halfLength: 0.07, gear: 30 },
];

const LIMB_RADIUS = 0.046;

const v3 = (v: readonly number[]) => v.join(' ');

function limbBody(limb: Limb, inner: string, indent: string): string {
  return [
    `${indent}<body name="${limb.name}" pos="${v3(limb.bodyPos)}">`,
    `${indent}  <joint name="${limb.name}" type="hinge" axis="0 1 0" pos="0 0 0" range="${limb.range.join(' ')}" stiffness="${limb.stiffness}" damping="${limb.damping}"/>`,
    `${indent}  <geom name="${limb.name}" type="capsule" pos="${v3(limb.geomPos)}" axisangle="0 1 0 ${limb.geomAngle}" size="${LIMB_RADIUS} ${limb.halfLength}"/>`,
    inner,
    `${indent}</body>`,
  ]
    .filter((line) => line !== '')
    .join('\n');
}

/** A chain of limbs, each the child of the one before it. */
function limbChain(limbs: readonly Limb[], indent: string): string {
  if (limbs.length === 0) return '';
  return limbBody(limbs[0], limbChain(limbs.slice(1), indent + '  '), indent);
}

function buildXml(): string {
  const back = HALF_CHEETAH_LIMBS.slice(0, 3);
  const front = HALF_CHEETAH_LIMBS.slice(3);
  const motors = HALF_CHEETAH_LIMBS.map((l) => `    <motor name="${l.name}" joint="${l.name}" gear="${l.gear}"/>`).join('\n');
  return `<mujoco model="half_cheetah">
  <compiler angle="radian" coordinate="local" inertiafromgeom="true" settotalmass="14"/>
  <option gravity="0 0 -9.81" timestep="0.01"/>
  <!-- Each MjData's arena: MuJoCo's default (~13.6 MB) would cap a WASM thread (2 GB) at ~150
       copies; this model uses ~16 KB per step (contacts included), so 256 KB leaves ample room. -->
  <size memory="256K"/>
  <default>
    <joint armature="0.1" damping="0.01" limited="true" stiffness="8" solimplimit="0 0.8 0.03" solreflimit="0.02 1"/>
    <geom contype="1" conaffinity="0" condim="3" friction="0.4 0.1 0.1" solimp="0 0.8 0.01" solref="0.02 1"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" pos="0 0 0" size="40 40 40" conaffinity="1" condim="3"/>
    <body name="torso" pos="0 0 0.7">
      <joint name="rootx" type="slide" axis="1 0 0" pos="0 0 0" armature="0" damping="0" stiffness="0" limited="false"/>
      <joint name="rootz" type="slide" axis="0 0 1" pos="0 0 0" armature="0" damping="0" stiffness="0" limited="false"/>
      <joint name="rooty" type="hinge" axis="0 1 0" pos="0 0 0" armature="0" damping="0" stiffness="0" limited="false"/>
      <geom name="torso" type="capsule" fromto="-0.5 0 0 0.5 0 0" size="${LIMB_RADIUS}"/>
      <geom name="head" type="capsule" pos="0.6 0 0.1" axisangle="0 1 0 0.87" size="${LIMB_RADIUS} 0.15"/>
${limbChain(back, '      ')}
${limbChain(front, '      ')}
    </body>
  </worldbody>
  <actuator>
${motors}
  </actuator>
</mujoco>
`;
}

/** The half-cheetah MJCF as a string (feed it to `modelFromXml`). */
export const HALF_CHEETAH_XML: string = buildXml();
