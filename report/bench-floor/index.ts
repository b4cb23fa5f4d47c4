// The benchmark's floor: a program that only imports what index.ts imports from Pulumi and
// declares one resource, evaluated the same way, so the program's own cost can be read off.
import * as resources from "@pulumi/azure-native/resources";
import "@pulumi/azure-native/network";
import "@pulumi/azure-native/compute";
import "@pulumi/azure-native/privatedns";
import "@pulumi/random";

export const resourceGroup = new resources.ResourceGroup("rg-floor", { location: "eastus" }).name;
