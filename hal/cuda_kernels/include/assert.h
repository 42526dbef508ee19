#define assert(e) ((void)0)  /* device assertions are not checked on translated targets */
