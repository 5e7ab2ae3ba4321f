import { ConnectionType } from "./connection.type";
import { ItemType } from "./item.type";
import { MemberType } from "./member.type";

export const MemberConnection = ConnectionType("Member", MemberType);
export const ItemConnection = ConnectionType("Item", ItemType);
