// Excerpt of lib/index.d.ts from @sentiance-react-native/core 6.0.3, the
// version `npm pack @sentiance-react-native/core@6` fetched (tarball sha1
// 81c4ae06d774b7e79bd14d0bb1661dada717af1d; the whole file's sha256 is
// 5cc3045c53120a905aff290362b59b2af47e5395e8b7e2e3d9287d57a0290ce9).
// Kept verbatim: the module line, every export that is a value (the enum and
// the default), the option and result types createUser and reset use, and
// those two members of the default export's interface. "// ..." marks cut
// lines; the cut ones are types, interfaces and other members.
// Refresh: npm pack @sentiance-react-native/core@6 && tar -xOzf *.tgz package/lib/index.d.ts
declare module "@sentiance-react-native/core" {
  import {EmitterSubscription} from "react-native";
  // ...
  export enum TransportMode {
    UNKNOWN = 1,
    CAR,
    BICYCLE,
    ON_FOOT,
    TRAIN,
    TRAM,
    BUS,
    PLANE,
    BOAT,
    METRO,
    RUNNING,
  }
  // ...
  export interface CreateUserResult {
    userInfo: UserInfo
  }

  export interface UserCreationOptions {
    appId: string,
    appSecret: string,
    authCode: string,
    platformUrl: string,
    linker: (installId: string) => boolean
  }
  // ...
  export interface ResetResult {
    initState: string
  }
  // ...
  export interface SentianceCore {
    userLinkCallback(linkResult: boolean): void;
    // ...
    reset(): Promise<ResetResult>;
    // ...
    createUser(options: UserCreationOptions): Promise<CreateUserResult>;
    // ...
  }

  const SentianceCore: SentianceCore;
  export default SentianceCore;
}
