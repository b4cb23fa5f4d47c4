// The benchmark's floor: a program that imports what index.ts imports from Pulumi and declares one
// resource, evaluated the same way, so the cost of everything the program adds can be read off.
import * as resources from "@pulumi/azure-native/resources";
import "@pulumi/azure-native/network";
import "@pulumi/azure-native/compute";
import "@pulumi/azure-native/privatedns";
import "@pulumi/random";

export const resourceGroup = new resources.ResourceGroup("rg-floor", { location: "eastus" }).name;
